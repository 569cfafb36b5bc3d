/*
 * chdb-server: run a current ClickHouse release as a server from the chDB
 * library (libchdb.so), for the tests. Built by sink/devserver/chdb.sh.
 *
 *   chdb-server LIBCHDB DATA_DIR TCP_PORT HTTP_PORT
 *
 * The library's clickhouse-local entry point (chdb_query_cmdline) starts the
 * TCP and HTTP listeners on 127.0.0.1 and then runs a query that sleeps for
 * years, which keeps them serving. It stops on SIGTERM. Everything the server
 * writes stays in DATA_DIR; its fatal messages go to stderr. Exit 0 when the
 * query ends, 1 on an error.
 *
 * A reset connection reads as a closed one. clickhouse-local, unlike
 * clickhouse-server, installs an error handler that terminates the process
 * when an exception leaves a connection's handler, and some socket errors do
 * leave it: a read that fails with ECONNRESET while a native connection is
 * idle between queries (a client SIGKILLed with unread bytes in its socket:
 * the kernel answers with RST, not FIN), or getpeername() failing with
 * ENOTCONN on a connection reset before its handler started. Either aborted
 * the whole server. This program defines recv() and getpeername(), which the
 * library imports from glibc; linked with --export-dynamic, they are the ones
 * the library calls. recv() returns 0 (end of stream) where glibc's fails
 * with ECONNRESET or ENOTCONN: for a server both mean that the client is
 * gone, and end of stream is handled everywhere. getpeername() of a reset
 * connection answers 127.0.0.1 port 0 (the server listens on 127.0.0.1
 * only), so that the handler starts, reads end of stream and closes.
 * A failed login still aborts (the handler rethrows it on purpose): the
 * tests of a rejected login use a server of their own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

typedef ssize_t (*recv_fn)(int fd, void *buf, size_t len, int flags);
typedef int (*getpeername_fn)(int fd, struct sockaddr *addr, socklen_t *len);

static recv_fn glibc_recv;
static getpeername_fn glibc_getpeername;

ssize_t recv(int fd, void *buf, size_t len, int flags) {
	ssize_t n = glibc_recv(fd, buf, len, flags);
	if (n < 0 && (errno == ECONNRESET || errno == ENOTCONN))
		return 0;
	return n;
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len) {
	int r = glibc_getpeername(fd, addr, len);
	if (r < 0 && errno == ENOTCONN && addr != NULL && len != NULL && *len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;
		memset(in, 0, sizeof *in);
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof *in;
		return 0;
	}
	return r;
}

typedef void *(*cmdline_fn)(int argc, char **argv);
typedef const char *(*error_fn)(void *result);

/* ten years of one-second rows; sinktest.ServedByChDB looks for this query */
#define KEEPALIVE_ROWS "315360000"

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: %s LIBCHDB DATA_DIR TCP_PORT HTTP_PORT\n", argv[0]);
		return 2;
	}
	glibc_recv = (recv_fn)dlsym(RTLD_NEXT, "recv");
	glibc_getpeername = (getpeername_fn)dlsym(RTLD_NEXT, "getpeername");
	if (glibc_recv == NULL || glibc_getpeername == NULL) {
		fprintf(stderr, "chdb-server: no recv or getpeername in libc: %s\n", dlerror());
		return 1;
	}
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "chdb-server: %s\n", dlerror());
		return 1;
	}
	cmdline_fn run = (cmdline_fn)dlsym(lib, "chdb_query_cmdline");
	error_fn errof = (error_fn)dlsym(lib, "chdb_result_error");
	if (run == NULL || errof == NULL) {
		fprintf(stderr, "chdb-server: %s has no chdb_query_cmdline/chdb_result_error\n", argv[1]);
		return 1;
	}
	char path[4096], tcp[64], http[64];
	snprintf(path, sizeof path, "--path=%s", argv[2]);
	snprintf(tcp, sizeof tcp, "--tcp_port=%s", argv[3]);
	snprintf(http, sizeof http, "--http_port=%s", argv[4]);
	char *args[] = {
		"clickhouse",
		"--listen_host=127.0.0.1",
		tcp,
		http,
		path,
		"--logger.console=1",
		"--log-level=fatal",
		"--multiquery",
		"--query=SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; "
		"SELECT sleepEachRow(1) FROM numbers(" KEEPALIVE_ROWS ") "
		"SETTINGS max_block_size = 1 FORMAT Null",
	};
	void *res = run((int)(sizeof args / sizeof args[0]), args);
	const char *err = res != NULL ? errof(res) : "no result";
	if (err != NULL && err[0] != '\0') {
		fprintf(stderr, "chdb-server: %s\n", err);
		return 1;
	}
	return 0;
}
