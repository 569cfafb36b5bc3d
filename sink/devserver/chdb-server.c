/*
 * chdb-server: run a current ClickHouse release as a server from the chDB
 * library (libchdb.so), for the tests. Built by sink/devserver/chdb.sh.
 *
 *   chdb-server LIBCHDB DATA_DIR TCP_PORT HTTP_PORT
 *
 * The library's clickhouse-local entry point (chdb_query_cmdline) starts the
 * TCP and HTTP listeners on 127.0.0.1 and then runs a query that sleeps for
 * years, which keeps them serving. It stops on SIGTERM. Everything the server
 * writes stays in DATA_DIR. Exit 0 when the query ends, 1 on an error.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *(*cmdline_fn)(int argc, char **argv);
typedef const char *(*error_fn)(void *result);

/* ten years of one-second rows; sinktest.ServedByChDB looks for this query */
#define KEEPALIVE_ROWS "315360000"

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: %s LIBCHDB DATA_DIR TCP_PORT HTTP_PORT\n", argv[0]);
		return 2;
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
