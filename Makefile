# wxsync: build, test, demo and benchmark. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go

# The project-local ClickHouse that tests, demo and bench use.
CH_DIR       ?= $(CURDIR)/.clickhouse
CH_PORT      ?= 9000
CH_HTTP_PORT ?= 8123
CH_SCRIPT    := sink/devserver/clickhouse.sh
# Each server's data goes on a journaled ext4 image (DIR.img, gitignored)
# when DIR is on ext4 without a journal: sink/devserver/datafs.sh says why.
DATAFS       := sink/devserver/datafs.sh
export CLICKHOUSE_DSN ?= clickhouse://127.0.0.1:$(CH_PORT)/default

# The test cluster (sink/devserver/cluster.sh): ZooKeeper and 2 shards x 2
# replicas of ClickHouse on 127.0.0.1, TCP ports CLUSTER_BASE+1..4.
CLUSTER_DIR    ?= $(CURDIR)/.clickhouse-cluster
CLUSTER_BASE   ?= 29100
CLUSTER_SCRIPT := sink/devserver/cluster.sh
export WXSYNC_CLUSTER_DIR ?= $(CLUSTER_DIR)
export WXSYNC_CLUSTER_DSN ?= clickhouse://127.0.0.1:$(shell echo $$(($(CLUSTER_BASE)+1)))/default
# Under make, a cluster that does not answer fails the cluster tests (a bare
# `go test` skips them).
export WXSYNC_REQUIRE_CLUSTER ?= 1


# The current ClickHouse release that `make test` also runs every ClickHouse
# test against: the official chDB library (npm @chdb/lib-linux-x64-gnu),
# fetched into CH26_DIR (gitignored) and served by sink/devserver/chdb.sh.
CH26_DIR       ?= $(CURDIR)/.clickhouse-26
CH26_PORT      ?= 9126
CH26_HTTP_PORT ?= 8126
CH26_SCRIPT    := sink/devserver/chdb.sh
# The tests that need a chDB server of their own (sinktest.StartServer) take
# its library from here.
export WXSYNC_CHDB_DIR := $(CH26_DIR)

# The servers of `make test`. Set CLICKHOUSE_TEST_DSNS (DSNs separated by
# spaces or commas) to test against servers of your own; then none is started.
ifeq ($(strip $(CLICKHOUSE_TEST_DSNS)),)
TEST_SERVERS := clickhouse-both
export CLICKHOUSE_TEST_DSNS := clickhouse://127.0.0.1:$(CH_PORT)/default clickhouse://127.0.0.1:$(CH26_PORT)/default
else
TEST_SERVERS :=
export CLICKHOUSE_TEST_DSNS
endif

BINARIES := bin/wxsync bin/wxsync-source-wechat bin/wxsim

.PHONY: help build test killtest clickhouse clickhouse-current clickhouse-both clickhouse-stop cluster cluster-stop demo bench bench-large bench-accounts bench-listen fuzz proto lint clean docs

help:
	@echo "make build            build $(BINARIES)"
	@echo "make test             start both ClickHouse servers if needed, vet, run every test under -race,"
	@echo "                      the ClickHouse ones once per server (CLICKHOUSE_TEST_DSNS: your own servers;"
	@echo "                      -race on the first server's pass only, TEST_FLAGS=-race-every-server for all)"
	@echo "make killtest         SIGKILL the host at 20 random points of a sync (WXSYNC_KILL_SEED=N replays a run)"
	@echo "make demo             wxsim with 1,000,000 followers -> wxsync sync -> ClickHouse, a few queries; then wxsync listen while wxsim pushes (wechat_followers_live moving)"
	@echo "make bench            sync at 100k, 1M and 3M followers beside its stage floors, 1M profiles at 0 and 50 ms latency, then bench-listen and bench-accounts; writes docs/benchmarks.md"
	@echo "make bench-listen     wxsync listen at 10, 100, 500 senders (safe mode) beside the no-store floor; writes its section of docs/benchmarks.md (part of make bench)"
	@echo "make bench-large      followers at 1M, 3M, 10M beside fetch and Native insert floors, and the incremental rerun at 1M and 10M; writes its sections of docs/benchmarks.md"
	@echo "make bench-accounts   the many-accounts benchmark (part of make bench) (1,000 accounts of 1,000 followers); writes its section of docs/benchmarks.md"
	@echo "make fuzz             longer fuzzing runs of every decoder"
	@echo "make docs             regenerate docs/configuration.md from the Config struct"
	@echo "make clickhouse       install Debian's clickhouse-server if missing and start it on 127.0.0.1:$(CH_PORT)"
	@echo "make clickhouse-current  fetch chDB (ClickHouse 26.7) if missing and serve it on 127.0.0.1:$(CH26_PORT)"
	@echo "make clickhouse-stop  stop both"
	@echo "make cluster          install ZooKeeper if missing; start it and a 2-shard x 2-replica ClickHouse cluster on 127.0.0.1:$(CLUSTER_BASE)+1..4"
	@echo "make cluster-stop     stop the cluster"

# Static binaries (cgo is only net's and os/user's optional C lookups) without
# gRPC's x/net/trace (grpcnotrace): a plugin launch loads and initialises
# less, which the many-accounts benchmark measures (docs/benchmarks.md). The
# end-to-end tests build the same way (cmd/wxsync/harness_test.go).
BUILD_ENV ?= CGO_ENABLED=0
BUILD_FLAGS ?= -tags grpcnotrace

build:
	@mkdir -p bin
	$(BUILD_ENV) $(GO) build $(BUILD_FLAGS) -o bin/ ./cmd/wxsync ./cmd/wxsync-source-wechat ./cmd/wxsim

clickhouse:
	@$(DATAFS) mount $(CH_DIR)
	@$(CH_SCRIPT) start $(CH_DIR) $(CH_PORT) $(CH_HTTP_PORT)

clickhouse-current:
	@$(DATAFS) mount $(CH26_DIR)/data
	@$(CH26_SCRIPT) start $(CH26_DIR) $(CH26_PORT) $(CH26_HTTP_PORT)

# Both servers, started side by side (the apt install and the npm fetch of a
# clean machine overlap).
clickhouse-both:
	@$(DATAFS) mount $(CH_DIR) && $(DATAFS) mount $(CH26_DIR)/data
	@$(CH_SCRIPT) start $(CH_DIR) $(CH_PORT) $(CH_HTTP_PORT) & a=$$!; \
	  $(CH26_SCRIPT) start $(CH26_DIR) $(CH26_PORT) $(CH26_HTTP_PORT) & b=$$!; \
	  wait $$a; ra=$$?; wait $$b; rb=$$?; [ $$ra = 0 ] && [ $$rb = 0 ]

clickhouse-stop:
	@$(CH_SCRIPT) stop $(CH_DIR)
	@$(CH26_SCRIPT) stop $(CH26_DIR)
	@$(DATAFS) umount $(CH_DIR)
	@$(DATAFS) umount $(CH26_DIR)/data

cluster:
	@$(DATAFS) mount $(CLUSTER_DIR)
	@$(CLUSTER_SCRIPT) start $(CLUSTER_DIR) $(CLUSTER_BASE)

cluster-stop:
	@$(CLUSTER_SCRIPT) stop $(CLUSTER_DIR)
	@$(DATAFS) umount $(CLUSTER_DIR)

lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...

# The packages whose tests use ClickHouse run once per server of
# CLICKHOUSE_TEST_DSNS, each output line prefixed with the server's version;
# it fails when a package did not run (or skipped) on one of them, or when
# a server restarted during the run. The cluster tests (an 18.16 cluster)
# run in the first server's pass only. -race covers the packages without
# ClickHouse and the first server's pass; the other passes run the same Go
# code without it (TEST_FLAGS=-race-every-server races them too).
TEST_FLAGS ?=
test: $(TEST_SERVERS) cluster lint
	$(GO) run ./sink/devserver/testservers -race -timeout=20m $(TEST_FLAGS) ./...

# The random-kill test with 20 kill points (3 in `make test`); it logs its
# WXSYNC_KILL_SEED, which replays the same points.
KILL_POINTS ?= 20
killtest: clickhouse
	WXSYNC_KILL_POINTS=$(KILL_POINTS) $(GO) test -race -count=1 -timeout 20m -v -run '^TestSyncHostKilledAtRandomPoints$$' ./cmd/wxsync

demo: build clickhouse
	@bash docs/demo.sh

bench: build clickhouse bench-listen bench-accounts
	WXSYNC_BENCH_OUT=$(CURDIR)/docs/benchmarks.md WXSYNC_BENCH_CH_DIR=$(CH_DIR) $(GO) test ./cmd/wxsync -run '^$$' -bench '^Benchmark(Sync|Profiles)$$' -benchtime 1x -timeout 60m

# wxsync listen (issue 10): events/s and acknowledgement latency at 10, 100
# and 500 senders in safe mode beside the floor (check, decrypt, parse,
# answer); writes its section of docs/benchmarks.md. Part of `make bench`.
bench-listen: build clickhouse
	WXSYNC_BENCH_OUT=$(CURDIR)/docs/benchmarks.md WXSYNC_BENCH_CH_DIR=$(CH_DIR) $(GO) test ./cmd/wxsync -run '^$$' -bench '^BenchmarkListen$$' -benchtime 1x -timeout 30m

# The long parts of issue 12: BenchmarkScale (WXSYNC_BENCH_SCALE_SIZES,
# WXSYNC_BENCH_ROUNDS) and BenchmarkIncremental (WXSYNC_BENCH_INCR_SIZES).
# ClickHouse CPU comes from system.query_log, which `make clickhouse` keeps;
# a server without it is reported as n/a.
BENCH_LARGE ?= ^Benchmark(Scale|Incremental)$$
bench-large: build clickhouse
	WXSYNC_BENCH_OUT=$(CURDIR)/docs/benchmarks.md WXSYNC_BENCH_CH_DIR=$(CH_DIR) $(GO) test ./cmd/wxsync -run '^$$' -bench '$(BENCH_LARGE)' -benchtime 1x -timeout 240m

bench-accounts: build clickhouse
	WXSYNC_BENCH_OUT=$(CURDIR)/docs/benchmarks.md WXSYNC_BENCH_CH_DIR=$(CH_DIR) $(GO) test ./cmd/wxsync -run '^$$' -bench '^BenchmarkAccounts$$' -benchtime 1x -timeout 60m

# docs/configuration.md is generated from the Config struct (cmd/wxsync/config.go);
# TestReferenceUpToDate fails when it is stale.
docs:
	@$(GO) run ./cmd/wxsync config-reference > docs/configuration.md.tmp || { rm -f docs/configuration.md.tmp; exit 1; }
	@mv docs/configuration.md.tmp docs/configuration.md && echo "wrote docs/configuration.md"

FUZZTIME ?= 60s
# A target that fails without writing a failing input to testdata/fuzz hit
# the race of Go's fuzzing coordinator at the -fuzztime deadline (a bare
# "context deadline exceeded": a worker still busy when time is up; none of
# our code failed): its corpus is replayed, and only a failing replay, or a
# failing input written, fails make fuzz.
fuzz:
	@$(GO) list ./... | while read -r pkg; do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    before=$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | wc -l); \
	    if ! $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME); then \
	      [ "$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | wc -l)" = "$$before" ] || exit 1; \
	      echo "fuzz: $$f failed without writing a failing input (Go's fuzztime deadline race); replaying its corpus"; \
	      $(GO) test $$pkg -run "^$$f$$" -count=1 || exit 1; \
	    fi; \
	  done; \
	done

proto:
	protoc -I plugin/pb --go_out=plugin/pb --go_opt=paths=source_relative \
	  --go-grpc_out=plugin/pb --go-grpc_opt=paths=source_relative plugin/pb/source.proto

clean:
	rm -rf bin
