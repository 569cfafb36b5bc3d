# wxsync: build, test, demo and benchmark. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go

# The project-local ClickHouse that tests, demo and bench use.
CH_DIR       ?= $(CURDIR)/.clickhouse
CH_PORT      ?= 9000
CH_HTTP_PORT ?= 8123
CH_SCRIPT    := sink/devserver/clickhouse.sh
export CLICKHOUSE_DSN ?= clickhouse://127.0.0.1:$(CH_PORT)/default

BINARIES := bin/wxsync bin/wxsync-source-wechat bin/wxsim

.PHONY: help build test killtest clickhouse clickhouse-stop demo bench bench-large fuzz proto lint clean docs

help:
	@echo "make build            build $(BINARIES)"
	@echo "make test             start ClickHouse if needed, vet, run every test under -race"
	@echo "make killtest         SIGKILL the host at 20 random points of a sync (WXSYNC_KILL_SEED=N replays a run)"
	@echo "make demo             wxsim with 1,000,000 followers -> wxsync sync -> ClickHouse, then a few queries"
	@echo "make bench            sync at 100k, 1M and 3M followers beside its stage floors, and 1M profiles at 0 and 50 ms latency; writes docs/benchmarks.md"
	@echo "make bench-large      followers at 1M, 3M, 10M beside fetch and Native insert floors, and the incremental rerun at 1M and 10M; writes its sections of docs/benchmarks.md"
	@echo "make fuzz             longer fuzzing runs of every decoder"
	@echo "make docs             regenerate docs/configuration.md from the Config struct"
	@echo "make clickhouse       install Debian's clickhouse-server if missing and start it on 127.0.0.1:$(CH_PORT)"
	@echo "make clickhouse-stop  stop it"

build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/wxsync ./cmd/wxsync-source-wechat ./cmd/wxsim

clickhouse:
	@$(CH_SCRIPT) start $(CH_DIR) $(CH_PORT) $(CH_HTTP_PORT)

clickhouse-stop:
	@$(CH_SCRIPT) stop $(CH_DIR)

lint:
	@bad=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...

test: clickhouse lint
	$(GO) test -race -count=1 -timeout 20m ./...

# The random-kill test with 20 kill points (3 in `make test`); it logs its
# WXSYNC_KILL_SEED, which replays the same points.
KILL_POINTS ?= 20
killtest: clickhouse
	WXSYNC_KILL_POINTS=$(KILL_POINTS) $(GO) test -race -count=1 -timeout 20m -v -run '^TestSyncHostKilledAtRandomPoints$$' ./cmd/wxsync

demo: build clickhouse
	@bash docs/demo.sh

bench: build clickhouse
	WXSYNC_BENCH_OUT=$(CURDIR)/docs/benchmarks.md $(GO) test ./cmd/wxsync -run '^$$' -bench '^Benchmark(Sync|Profiles)$$' -benchtime 1x -timeout 60m

# The long parts of issue 12: BenchmarkScale (WXSYNC_BENCH_SCALE_SIZES,
# WXSYNC_BENCH_ROUNDS) and BenchmarkIncremental (WXSYNC_BENCH_INCR_SIZES).
# ClickHouse CPU comes from system.query_log, which `make clickhouse` keeps;
# a server without it is reported as n/a.
BENCH_LARGE ?= ^Benchmark(Scale|Incremental)$$
bench-large: build clickhouse
	WXSYNC_BENCH_OUT=$(CURDIR)/docs/benchmarks.md $(GO) test ./cmd/wxsync -run '^$$' -bench '$(BENCH_LARGE)' -benchtime 1x -timeout 240m

# docs/configuration.md is generated from the Config struct (cmd/wxsync/config.go);
# TestReferenceUpToDate fails when it is stale.
docs:
	@$(GO) run ./cmd/wxsync config-reference > docs/configuration.md.tmp || { rm -f docs/configuration.md.tmp; exit 1; }
	@mv docs/configuration.md.tmp docs/configuration.md && echo "wrote docs/configuration.md"

FUZZTIME ?= 60s
fuzz:
	@$(GO) list ./... | while read -r pkg; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done

proto:
	protoc -I plugin/pb --go_out=plugin/pb --go_opt=paths=source_relative \
	  --go-grpc_out=plugin/pb --go-grpc_opt=paths=source_relative plugin/pb/source.proto

clean:
	rm -rf bin
