package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The settings table of the C server (server/config.c), same names, defaults
// and value syntax, so the adapter is a drop-in replacement.
type optType int

const (
	optString optType = iota
	optDuration
	optBytes
	optUint
	optBool
	optLevel
)

type opt struct {
	name string
	typ  optType
	def  string
	help string
}

var opts = []opt{
	{"config.file", optString, "", "YAML configuration file; flags override its settings."},
	{"storage.backend", optString, "lmdb", "Block backend: lmdb or sqlite."},
	{"storage.path", optString, "./data", "Directory of the store (created if missing)."},
	{"storage.retention.time", optDuration, "0", "How long to keep samples (e.g. 15d, 1h30m); 0 keeps them forever."},
	{"storage.retention.size", optBytes, "0", "Largest store size (e.g. 512MB, 10GB; units are powers of 1024); 0: no limit."},
	{"storage.block-duration", optDuration, "2h", "Length of a time block; fixed when the store is created."},
	{"storage.out-of-order-window", optDuration, "0", "How far behind a series' newest sample a sample is still accepted."},
	{"storage.future-limit", optDuration, "10m", "How far past this server's clock a sample may be; later ones get 400. 0: no limit."},
	{"storage.sync", optBool, "false", "fsync after every append (survives power loss, costs throughput)."},
	{"storage.remote.read-concurrent-limit", optUint, "10", "Remote reads served at once; more wait for a slot (--storage.remote.read-queue-timeout)."},
	{"storage.remote.read-queue-timeout", optDuration, "10s", "How long a remote read waits for a slot before 503; 0: no waiting."},
	{"storage.remote.read-sample-limit", optUint, "50000000", "Most samples one remote-read query may return; 0: no limit."},
	{"storage.remote.read-series-limit", optUint, "0", "Most series one remote-read query may return; 0: no limit."},
	{"storage.remote.read-bytes-limit", optBytes, "0", "Most chunk bytes one remote-read query may return; 0: no limit."},
	{"storage.remote.read-matchers-limit", optUint, "64", "Most matchers in one remote-read query; more get 400. 0: no limit."},
	{"storage.remote.read-queries-limit", optUint, "64", "Most queries in one remote-read request; more get 400. 0: no limit."},
	{"storage.remote.read-work-limit", optUint, "100000000", "Work budget of one remote-read request, in steps; past it: 400. 0: no limit."},
	{"storage.remote.read-deadline", optDuration, "2m", "How long one remote-read request may work without yielding a series; past it: 400. 0: no deadline."},
	{"storage.remote.read-max-bytes-in-frame", optBytes, "1MiB", "Target size of a streamed remote-read frame."},
	{"storage.remote.max-decoded-bytes", optBytes, "32MiB", "Largest decoded (uncompressed) remote write/read body."},
	{"web.listen-address", optString, "127.0.0.1:9201", "Address to listen on: host:port, [ipv6]:port or :port (port 0 picks one)."},
	{"web.max-request-bytes", optBytes, "32MiB", "Largest request body; a larger one is refused with 413."},
	{"web.max-body-bytes-in-flight", optBytes, "256MiB", "Memory all request bodies being received may hold together; past it 503."},
	{"web.max-connections", optUint, "512", "Most simultaneous connections."},
	{"web.read-timeout", optDuration, "5m", "Deadline for reading a whole request, and for an idle connection; 0: none."},
	{"web.min-body-rate", optBytes, "4KiB", "Slowest average rate (bytes a second) of a request body that has been arriving longer than --web.min-body-rate-grace; a slower one is cut. 0: no minimum."},
	{"web.min-body-rate-grace", optDuration, "10s", "How long a request body may arrive before --web.min-body-rate applies."},
	{"web.write-timeout", optDuration, "1m", "A streamed answer whose client takes no byte for this long is cut; 0: never."},
	{"web.connection-memory-limit", optBytes, "64KiB", "Memory for one connection's headers and buffers (not its body)."},
	{"web.threads", optUint, "0", "HTTP worker threads; 0: one per CPU (the adapter uses goroutines; accepted for compatibility)."},
	{"web.basic-auth-user", optString, "", "Require HTTP basic auth with this user name (with --web.basic-auth-password-file)."},
	{"web.basic-auth-password-file", optString, "", "File holding the basic-auth password (one trailing newline is ignored)."},
	{"web.bearer-token-file", optString, "", "Require \"Authorization: Bearer <token>\" with the token in this file."},
	{"web.tls-cert-file", optString, "", "PEM certificate: serve HTTPS (with --web.tls-key-file)."},
	{"web.tls-key-file", optString, "", "PEM private key for HTTPS."},
	{"web.tls-min-version", optString, "TLS12", "Oldest TLS version accepted: TLS10, TLS11, TLS12 or TLS13."},
	{"web.tls-cipher-suites", optString, "", "TLS 1.2 cipher suites, comma-separated IANA names; empty: ECDHE with AES-GCM or ChaCha20-Poly1305."},
	{"log.level", optLevel, "info", "Log level: debug, info, warn or error."},
}

// config holds every setting parsed: strings, int64 (durations in ms) or uint64.
type config struct {
	str map[string]string
	num map[string]uint64
	dur map[string]int64
	on  map[string]bool
}

func findOpt(name string) *opt {
	for i := range opts {
		if opts[i].name == name {
			return &opts[i]
		}
	}
	return nil
}

func (c *config) apply(o *opt, v string) error {
	switch o.typ {
	case optString:
		c.str[o.name] = v
	case optDuration:
		ms, err := parseDuration(v)
		if err != nil {
			return err
		}
		c.dur[o.name] = ms
	case optBytes:
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		c.num[o.name] = n
	case optUint:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || v == "" || v[0] == '+' {
			return fmt.Errorf("expected a non-negative integer")
		}
		c.num[o.name] = n
	case optBool:
		switch v {
		case "true", "1":
			c.on[o.name] = true
		case "false", "0":
			c.on[o.name] = false
		default:
			return fmt.Errorf("expected true or false")
		}
	case optLevel:
		if _, ok := levels[v]; !ok {
			return fmt.Errorf("expected debug, info, warn or error")
		}
		c.str[o.name] = v
	}
	return nil
}

func defaults() *config {
	c := &config{map[string]string{}, map[string]uint64{}, map[string]int64{}, map[string]bool{}}
	for i := range opts {
		if err := c.apply(&opts[i], opts[i].def); err != nil {
			panic(opts[i].name + ": " + err.Error())
		}
	}
	return c
}

func (c *config) set(name, value, origin string) error {
	o := findOpt(name)
	if o == nil {
		return fmt.Errorf("unknown setting %s", origin)
	}
	if err := c.apply(o, value); err != nil {
		return fmt.Errorf("invalid value %q for %s: %v", value, origin, err)
	}
	return nil
}

// walkFlags applies --name=value, --name value, --bool, --no-bool in order.
func walkFlags(c *config, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") || len(a) == 2 {
			return fmt.Errorf("unexpected argument %q, try --help", a)
		}
		name, value, hasEq := strings.Cut(a[2:], "=")
		o := findOpt(name)
		if o == nil {
			if b := findOpt(strings.TrimPrefix(name, "no-")); b != nil && strings.HasPrefix(name, "no-") && b.typ == optBool && !hasEq {
				c.on[b.name] = false
				continue
			}
			return fmt.Errorf("unknown flag --%s, try --help", name)
		}
		if !hasEq {
			switch {
			case o.typ == optBool:
				value = "true"
			case i+1 < len(args):
				i++
				value = args[i]
			default:
				return fmt.Errorf("flag --%s needs a value", name)
			}
		}
		if err := c.set(name, value, "--"+name); err != nil {
			return err
		}
	}
	return nil
}

// loadYAML reads the block-mapping subset of YAML the C server's files use:
// nested "key:" mappings, "key: scalar" with optional quotes, # comments and
// flow mappings on one line ({a: b, c: d}). Keys mirror the flags with '-'
// written '_'.
func loadYAML(c *config, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read config file %q: %v", path, err)
	}
	defer f.Close()
	type level struct {
		indent int
		prefix string
	}
	stack := []level{{-1, ""}}
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for ln := 1; sc.Scan(); ln++ {
		line := stripComment(sc.Text())
		if strings.TrimSpace(line) == "" || strings.TrimSpace(line) == "---" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		for len(stack) > 1 && indent <= stack[len(stack)-1].indent {
			stack = stack[:len(stack)-1]
		}
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			return fmt.Errorf("%s:%d: expected \"key: value\"", path, ln)
		}
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		full := stack[len(stack)-1].prefix + key
		if value == "" {
			stack = append(stack, level{indent, full + "."})
			continue
		}
		if err := yamlValue(c, path, ln, full, value); err != nil {
			return err
		}
	}
	return sc.Err()
}

func yamlValue(c *config, path string, ln int, key, value string) error {
	if strings.HasPrefix(value, "{") && strings.HasSuffix(value, "}") {
		inner := strings.TrimSpace(value[1 : len(value)-1])
		if inner == "" {
			return nil
		}
		for _, kv := range splitFlow(inner) {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				return fmt.Errorf("%s:%d: expected \"key: value\" in %s", path, ln, value)
			}
			if err := yamlValue(c, path, ln, key+"."+strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
		value = value[1 : len(value)-1]
	}
	name := strings.ReplaceAll(key, "_", "-")
	if name == "config.file" || findOpt(name) == nil {
		return fmt.Errorf("%s:%d: unknown key %q", path, ln, key)
	}
	if err := c.set(name, value, fmt.Sprintf("%s (%s:%d)", key, path, ln)); err != nil {
		return err
	}
	return nil
}

func splitFlow(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func stripComment(line string) string {
	inQuote := byte(0)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case inQuote != 0 && ch == inQuote:
			inQuote = 0
		case inQuote == 0 && (ch == '"' || ch == '\''):
			inQuote = ch
		case inQuote == 0 && ch == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

// parseDuration parses Prometheus durations: 1h30m, 15d, 500ms, 0.
func parseDuration(s string) (int64, error) {
	if s == "0" {
		return 0, nil
	}
	units := []struct {
		name string
		ms   int64
		rank int
	}{{"y", 365 * 86400000, 0}, {"w", 7 * 86400000, 1}, {"d", 86400000, 2}, {"h", 3600000, 3},
		{"ms", 1, 6}, {"m", 60000, 4}, {"s", 1000, 5}}
	bad := fmt.Errorf("not a duration (use e.g. 15d, 2h, 1h30m, 500ms, 0)")
	if s == "" {
		return 0, bad
	}
	var total int64
	last := -1
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, bad
		}
		n, err := strconv.ParseUint(s[:i], 10, 64)
		if err != nil {
			return 0, bad
		}
		s = s[i:]
		found := false
		for _, u := range units {
			if strings.HasPrefix(s, u.name) {
				if u.rank <= last {
					return 0, fmt.Errorf("units must go from largest to smallest, each once")
				}
				last = u.rank
				if n > uint64((1<<63-1-total)/u.ms) {
					return 0, fmt.Errorf("duration out of range")
				}
				total += int64(n) * u.ms
				s = s[len(u.name):]
				found = true
				break
			}
		}
		if !found {
			return 0, bad
		}
	}
	return total, nil
}

// parseBytes parses sizes: 512, 64KiB, 32MB (both spellings powers of 1024).
func parseBytes(s string) (uint64, error) {
	bad := fmt.Errorf("not a size (use e.g. 512MB, 64KiB, 1GB, 0)")
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, bad
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, bad
	}
	rest := s[i:]
	mult := uint64(1)
	if rest != "" && rest != "B" {
		p := strings.IndexByte("KMGTPE", rest[0])
		if p < 0 || (rest[1:] != "B" && rest[1:] != "iB") {
			return 0, bad
		}
		for j := 0; j <= p; j++ {
			mult <<= 10
		}
	}
	if n != 0 && mult > ^uint64(0)/n {
		return 0, fmt.Errorf("size out of range")
	}
	return n * mult, nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: promstore-adapter [<flags>]\n\n"+
		"Remote storage for Prometheus (libpromstore served from Go): remote write\n"+
		"(POST /api/v1/write), remote read (POST /api/v1/read), /metrics, /-/healthy\n"+
		"and /-/ready. The same flags and YAML file as the C server `promstore`.\n\n"+
		"Flags:\n  -h, --help\n      Show this help and exit.\n  --version\n      Print the version and exit.\n")
	for _, o := range opts {
		shown := o.def
		if o.typ == optBool {
			shown = "<bool>"
		} else if shown == "" {
			shown = `""`
		}
		fmt.Fprintf(w, "  --%s=%s\n      %s", o.name, shown, o.help)
		if o.def != "" {
			fmt.Fprintf(w, " (default: %s)", o.def)
		}
		fmt.Fprintln(w)
	}
}
