/*
 * handlers.h -- the endpoints. Each runs once its request is complete (the
 * body collected, the credentials checked) and queues exactly one response.
 */
#ifndef SRV_HANDLERS_H
#define SRV_HANDLERS_H

#include "http.h"

/* Serve r by its route. */
enum MHD_Result srv_handle(srv_request *r);

#endif
