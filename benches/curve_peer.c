/* The libzmq side of benches/curve.rs, built by the bench at run time against the system's
 * libzmq (Debian's libzmq3-dev, which is built with libsodium and so has CURVE):
 *
 *   cc -O2 benches/curve_peer.c -o <target>/curve_peer -lzmq -lpthread
 *
 * The `zmq` crate's vendored libzmq has no CURVE, and pyzmq adds Python's per-message cost,
 * so the CURVE baseline is plain C calling libzmq, as libzmq's own perf tools do.
 * Keys arrive in Z85 on the command line (bench keys, generated per run). A key argument of
 * "-" means NULL (no security).
 *
 *   curve_peer has-curve
 *       exit 0 if this libzmq has CURVE.
 *   curve_peer pushpull <size> <server-secret|-> <server-public> <client-public> <client-secret>
 *       PULL binds tcp://127.0.0.1:*, PUSH connects, one I/O thread, HWM 1000 (the default).
 *       For each line "<n>" on stdin: the PUSH thread sends n messages of <size> bytes (a fresh
 *       copy each, zmq_send), the main thread receives them; prints the nanoseconds from
 *       asking the sender until the n-th message arrived. Ends at end of stdin.
 *   curve_peer req <size> <server-public|-> <client-public> <client-secret>
 *       REQ binds tcp://127.0.0.1:*, prints "endpoint <ep>"; for each line "<n>" on stdin
 *       makes n round trips of <size> bytes and prints their nanoseconds.
 *   curve_peer rep <endpoint> <server-secret|->
 *       REP connects and echoes until killed or until stdin closes.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static void die(const char *what) {
    fprintf(stderr, "curve_peer: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_key(void *s, int option, const char *z85) {
    if (zmq_setsockopt(s, option, z85, 40) != 0) die("set key");
}

static void make_server(void *s, const char *secret) {
    if (strcmp(secret, "-") == 0) return;
    int one = 1;
    if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) != 0) die("curve server");
    set_key(s, ZMQ_CURVE_SECRETKEY, secret);
}

static void make_client(void *s, const char *server, const char *pub, const char *sec) {
    if (strcmp(server, "-") == 0) return;
    set_key(s, ZMQ_CURVE_SERVERKEY, server);
    set_key(s, ZMQ_CURVE_PUBLICKEY, pub);
    set_key(s, ZMQ_CURVE_SECRETKEY, sec);
}

static void *new_context(void) {
    void *ctx = zmq_ctx_new();
    if (!ctx) die("context");
    zmq_ctx_set(ctx, ZMQ_IO_THREADS, 1);
    return ctx;
}

struct sender {
    void *push;
    size_t size;
    int ask[2];  /* main -> sender: how many */
    int done[2]; /* sender -> main: finished */
};

static void *send_loop(void *arg) {
    struct sender *s = arg;
    char *payload = calloc(1, s->size ? s->size : 1);
    uint64_t n;
    while (read(s->ask[0], &n, sizeof n) == (ssize_t)sizeof n) {
        for (uint64_t i = 0; i < n; i++)
            if (zmq_send(s->push, payload, s->size, 0) < 0) die("send");
        char c = 1;
        if (write(s->done[1], &c, 1) != 1) die("done pipe");
    }
    free(payload);
    return NULL;
}

static int pushpull(int argc, char **argv) {
    if (argc < 7) return 2;
    size_t size = (size_t)strtoull(argv[2], NULL, 10);
    void *ctx = new_context();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    make_server(pull, argv[3]);
    if (zmq_bind(pull, "tcp://127.0.0.1:*") != 0) die("bind");
    char ep[256];
    size_t len = sizeof ep;
    if (zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len) != 0) die("last endpoint");
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    make_client(push, strcmp(argv[3], "-") == 0 ? "-" : argv[4], argv[5], argv[6]);
    if (zmq_connect(push, ep) != 0) die("connect");

    struct sender s = {.push = push, .size = size};
    if (pipe(s.ask) != 0 || pipe(s.done) != 0) die("pipe");
    pthread_t thread;
    pthread_create(&thread, NULL, send_loop, &s);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        uint64_t n = strtoull(line, NULL, 10);
        uint64_t start = now_ns();
        if (write(s.ask[1], &n, sizeof n) != (ssize_t)sizeof n) die("ask pipe");
        for (uint64_t i = 0; i < n; i++)
            if (zmq_msg_recv(&msg, pull, 0) < 0) die("recv");
        uint64_t elapsed = now_ns() - start;
        char c;
        if (read(s.done[0], &c, 1) != 1) die("done pipe");
        printf("%llu\n", (unsigned long long)elapsed);
        fflush(stdout);
    }
    close(s.ask[1]);
    pthread_join(thread, NULL);
    zmq_msg_close(&msg);
    int zero = 0;
    zmq_setsockopt(push, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    return 0;
}

static int req(int argc, char **argv) {
    if (argc < 6) return 2;
    size_t size = (size_t)strtoull(argv[2], NULL, 10);
    void *ctx = new_context();
    void *s = zmq_socket(ctx, ZMQ_REQ);
    make_client(s, argv[3], argv[4], argv[5]);
    int timeout = 10000;
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0) die("bind");
    char ep[256];
    size_t len = sizeof ep;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) != 0) die("last endpoint");
    printf("endpoint %s\n", ep);
    fflush(stdout);
    char *payload = calloc(1, size ? size : 1);
    zmq_msg_t reply;
    zmq_msg_init(&reply);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        uint64_t n = strtoull(line, NULL, 10);
        uint64_t start = now_ns();
        for (uint64_t i = 0; i < n; i++) {
            if (zmq_send(s, payload, size, 0) < 0) die("send request");
            if (zmq_msg_recv(&reply, s, 0) < 0) die("recv reply");
        }
        printf("%llu\n", (unsigned long long)(now_ns() - start));
        fflush(stdout);
    }
    return 0;
}

static void *exit_at_eof(void *arg) {
    (void)arg;
    char buf[256];
    while (read(0, buf, sizeof buf) > 0) {
    }
    exit(0);
}

static int rep(int argc, char **argv) {
    if (argc < 4) return 2;
    pthread_t watcher;
    pthread_create(&watcher, NULL, exit_at_eof, NULL);
    void *ctx = new_context();
    void *s = zmq_socket(ctx, ZMQ_REP);
    make_server(s, argv[3]);
    if (zmq_connect(s, argv[2]) != 0) die("connect");
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (;;) {
        if (zmq_msg_recv(&msg, s, 0) < 0) die("recv request");
        if (zmq_msg_send(&msg, s, 0) < 0) die("send reply");
    }
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "has-curve") == 0) return zmq_has("curve") ? 0 : 1;
    if (argc >= 2 && strcmp(argv[1], "pushpull") == 0) return pushpull(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "req") == 0) return req(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "rep") == 0) return rep(argc, argv);
    fprintf(stderr, "usage: see the comment at the top of benches/curve_peer.c\n");
    return 2;
}
