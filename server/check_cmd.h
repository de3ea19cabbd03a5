/*
 * check_cmd.h -- `promstore check`: verify a store offline.
 */
#ifndef SRV_CHECK_CMD_H
#define SRV_CHECK_CMD_H

/*
 * Run the check subcommand; argv[0] is "check", the rest are the server's
 * own flags (--storage.path, --storage.backend, --config.file; the others
 * are accepted and ignored). Prints one line per problem and a summary on
 * stdout, errors on stderr. Returns the exit status: 0 healthy, 1 problems
 * found, 2 the check could not run (bad flags, no store, store in use,
 * unreadable).
 */
int srv_check_main(int argc, char **argv);

#endif
