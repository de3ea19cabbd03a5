/*
 * httpc.c -- the minimal HTTP/1.1 keep-alive client and the 204 sink of
 * promstore-loadgen (see httpc.h). Plain blocking sockets with poll()
 * timeouts; responses may use Content-Length, chunked coding or close.
 */
#define _GNU_SOURCE /* memmem, accept4 */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int httpc_parse_url(const char *s, httpc_url *u)
{
    memset(u, 0, sizeof *u);
    if (strncmp(s, "http://", 7) != 0)
        return -1;
    s += 7;
    size_t hl = strcspn(s, ":/");
    if (hl == 0 || hl >= sizeof u->host)
        return -1;
    memcpy(u->host, s, hl);
    if (strcmp(u->host, "localhost") == 0)
        strcpy(u->host, "127.0.0.1");
    struct in_addr a;
    if (inet_pton(AF_INET, u->host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
        return -1; /* loopback only */
    s += hl;
    u->port = 80;
    if (*s == ':') {
        char *end;
        long p = strtol(s + 1, &end, 10);
        if (end == s + 1 || p <= 0 || p > 65535)
            return -1;
        u->port = (uint16_t)p;
        s = end;
    }
    if (*s == '\0')
        s = "/";
    if (*s != '/' || strlen(s) >= sizeof u->path)
        return -1;
    strcpy(u->path, s);
    return 0;
}

void httpc_init(httpc_conn *c, const httpc_url *url, int timeout_ms)
{
    c->fd = -1;
    c->url = url;
    c->len = 0;
    c->timeout_ms = timeout_ms;
}

void httpc_close(httpc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 ? 0 : -1;
}

static int conn_open(httpc_conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->url->port)};
    inet_pton(AF_INET, c->url->host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->len = 0;
    return 0;
}

static int write_all(httpc_conn *c, struct iovec *iov, int n)
{
    while (n > 0) {
        if (wait_fd(c->fd, POLLOUT, c->timeout_ms) != 0)
            return -1;
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Read more bytes into c->buf. 1 on data, 0 on EOF, -1 on error/timeout/full. */
static int fill(httpc_conn *c)
{
    if (c->len == sizeof c->buf || wait_fd(c->fd, POLLIN, c->timeout_ms) != 0)
        return -1;
    ssize_t r;
    do
        r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    c->len += (size_t)r;
    return r > 0;
}

static void consume(httpc_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Discard n body bytes. */
static int skip(httpc_conn *c, uint64_t n)
{
    while (n > 0) {
        if (c->len == 0 && fill(c) != 1)
            return -1;
        size_t k = c->len < n ? c->len : (size_t)n;
        consume(c, k);
        n -= k;
    }
    return 0;
}

/* Length of the CRLF-terminated line at the start of buf, CRLF included. */
static int line(httpc_conn *c, size_t *n)
{
    for (int i = 0; i < 64; i++) {
        char *e = memmem(c->buf, c->len, "\r\n", 2);
        if (e) {
            *n = (size_t)(e - c->buf) + 2;
            return 0;
        }
        if (fill(c) != 1)
            return -1;
    }
    return -1;
}

static int read_chunked(httpc_conn *c)
{
    for (;;) {
        size_t n;
        if (line(c, &n) != 0)
            return -1;
        unsigned long long sz = strtoull(c->buf, NULL, 16);
        consume(c, n);
        if (sz == 0)
            break;
        if (skip(c, sz + 2) != 0) /* data and its CRLF */
            return -1;
    }
    for (;;) { /* trailers up to the empty line */
        size_t n;
        if (line(c, &n) != 0)
            return -1;
        consume(c, n);
        if (n == 2)
            return 0;
    }
}

static int read_response(httpc_conn *c)
{
    char *end;
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        if (fill(c) != 1)
            return -1;
    size_t hlen = (size_t)(end - c->buf) + 4;
    int status = 0;
    if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 599)
        return -1;
    long long clen = -1;
    int chunked = 0, close_after = strncmp(c->buf, "HTTP/1.0", 8) == 0;
    for (char *p = memchr(c->buf, '\n', hlen); p && p < end; p = memchr(p, '\n', hlen)) {
        p++;
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            clen = strtoll(p + 15, NULL, 10);
        else if (strncasecmp(p, "Transfer-Encoding:", 18) == 0)
            chunked = strncasecmp(p + 18 + strspn(p + 18, " "), "chunked", 7) == 0;
        else if (strncasecmp(p, "Connection:", 11) == 0)
            close_after = strncasecmp(p + 11 + strspn(p + 11, " "), "close", 5) == 0;
        hlen = (size_t)(end + 4 - p);
    }
    consume(c, (size_t)(end + 4 - c->buf));
    if (status < 200) /* 100 Continue and friends: the real answer follows */
        return read_response(c);
    if (status == 204 || status == 304)
        clen = 0;
    int rc = 0;
    if (chunked)
        rc = read_chunked(c);
    else if (clen >= 0)
        rc = skip(c, (uint64_t)clen);
    else { /* body until close */
        int r;
        while ((r = fill(c)) == 1)
            c->len = 0;
        rc = r == 0 ? 0 : -1;
        close_after = 1;
    }
    if (rc != 0)
        return -1;
    if (close_after)
        httpc_close(c);
    return status;
}

int httpc_post(httpc_conn *c, const char *extra_headers, const void *body, size_t len)
{
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%u\r\n%sContent-Length: %zu\r\n\r\n",
                      c->url->path, c->url->host, (unsigned)c->url->port, extra_headers, len);
    if (hn < 0 || (size_t)hn >= sizeof head)
        return -1;
    /* A kept-alive connection may have been closed by the server while idle:
     * retry once on a fresh one when the failure came before any answer. */
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0;
        if (c->fd < 0 && conn_open(c) != 0)
            return -1;
        struct iovec iov[2] = {{head, (size_t)hn}, {(void *)body, len}};
        int status = write_all(c, iov, 2) == 0 ? read_response(c) : -1;
        if (status > 0)
            return status;
        int fresh_failure = c->len == 0;
        httpc_close(c);
        if (!reused || !fresh_failure)
            return -1;
    }
    return -1;
}

/* --- the sink ----------------------------------------------------------------- */

static void *sink_conn(void *arg)
{
    httpc_url url = {.port = 0};
    httpc_conn c;
    httpc_init(&c, &url, 60000);
    c.fd = (int)(intptr_t)arg;
    static const char ok[] = "HTTP/1.1 204 No Content\r\n\r\n";
    for (;;) {
        char *end;
        while ((end = memmem(c.buf, c.len, "\r\n\r\n", 4)) == NULL)
            if (fill(&c) != 1)
                goto out;
        long long clen = 0;
        for (char *p = c.buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
            p += *p == '\n';
            if (strncasecmp(p, "Content-Length:", 15) == 0)
                clen = strtoll(p + 15, NULL, 10);
        }
        consume(&c, (size_t)(end + 4 - c.buf));
        if (clen < 0 || skip(&c, (uint64_t)clen) != 0 ||
            write(c.fd, ok, sizeof ok - 1) != (ssize_t)(sizeof ok - 1))
            goto out;
    }
out:
    httpc_close(&c);
    return NULL;
}

static void *sink_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, NULL, sink_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
}

int httpc_sink_start(uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    pthread_t t;
    if (pthread_create(&t, NULL, sink_accept, (void *)(intptr_t)fd) != 0) {
        close(fd);
        return -1;
    }
    pthread_detach(t);
    return 0;
}
