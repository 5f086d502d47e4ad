# meshinject - build, run and test. `make run` and `make test` install their
# own prerequisites (Debian packages, npm packages for the end-to-end tests).

CC       ?= cc
PKGS     := libmicrohttpd gnutls jansson yaml-0.1 openssl
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
ifneq ($(CI),)
WARN     += -Werror
endif
OPT      ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Iinclude
# SANITIZER=address,undefined builds everything (tests too) with sanitizers.
ifneq ($(SANITIZER),)
CFLAGS   += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZER)
endif
BUILD    ?= build
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

SRCS     := $(wildcard webhook/*.c)
OBJS     := $(SRCS:webhook/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/default_config.o \
            $(BUILD)/obj/policy_validations.o $(BUILD)/obj/install_manifests.o
LIB_OBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
HDRS     := $(wildcard include/*.h)
TEST_HDRS := $(wildcard tests/lib/*.h)
# The core: what decides and builds a review's answer, and the redirect's
# rules; no I/O (README, "The core and the shells"). One static library, linked with jansson, libyaml and
# libcrypto only; `make check-core` holds the fence.
CORE_MODS := base64 buf utf8 policy coreutil inject patch review config config_tree quantity netparse envoyvalues \
             redirect_rules jsonalloc jsonpack jsonread jsonwrite
CORE_OBJS := $(CORE_MODS:%=$(BUILD)/obj/%.o) $(BUILD)/obj/default_config.o
CORE_LIB  := $(BUILD)/libmeshcore.a
CORE_LIBS  = $(shell pkg-config --libs jansson yaml-0.1 libcrypto 2>/dev/null)
CORE_SUITES := base64 buf utf8 jsonalloc jsonpack jsonread netparse patch review inject quantity \
               envoyvalues policy rollout
SUITES   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/check_*.c))
# The fuzz targets' committed inputs, replayed once each by the ordinary
# compiler's build (tests/fuzz/replay.c stands in for libFuzzer's main).
REPLAY_TARGETS := review config jsonread jsonwrite
REPLAYS  := $(REPLAY_TARGETS:%=$(BUILD)/tests/replay_%)

.PHONY: check-core
.PHONY: all deps tools run test unit netns e2e cluster image test-image clean manifests golden
all: $(BUILD)/meshinject

deps:
	@./.ci/install-deps

# The real components the tests run against (kube-apiserver, kube-controller-
# manager, kubectl, etcd, helm, Envoy's validators), built from the Go module
# proxy into .tools/ (ignored); seconds once the Go cache is warm.
tools:
	@tests/tools/build.sh

$(BUILD)/obj/%.o: webhook/%.c $(HDRS) | $(BUILD)/obj
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The default config is compiled in: one C string literal per line.
$(BUILD)/gen/default_config.c: webhook/default-config.yaml | $(BUILD)/gen
	@{ echo '/* generated from webhook/default-config.yaml by make */'; \
	  echo 'const char config_default_yaml[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@

$(BUILD)/obj/default_config.o: $(BUILD)/gen/default_config.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

# So are the plain manifests `meshinject install` prints (? escaped: no trigraphs).
$(BUILD)/gen/install_manifests.c: manifests/meshinject.yaml | $(BUILD)/gen
	@{ echo '/* generated from manifests/meshinject.yaml by make */'; \
	  echo 'const char install_manifests_yaml[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@

$(BUILD)/obj/install_manifests.o: $(BUILD)/gen/install_manifests.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

# The policies' CEL is compiled in too (vap.c); the chart reads the same file.
$(BUILD)/gen/policy_validations.c: charts/meshinject/files/policy-validations.yaml | $(BUILD)/gen
	@{ echo '/* generated from $< by make */'; \
	  echo 'const char vap_validations_yaml[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@

$(BUILD)/obj/policy_validations.o: $(BUILD)/gen/policy_validations.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/meshinject: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

$(BUILD)/tests/check_%: tests/check_%.c tests/lib/testutil.c $(TEST_HDRS) $(LIB_OBJS) $(HDRS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(shell pkg-config --cflags check) -o $@ $< \
	    tests/lib/testutil.c $(LIB_OBJS) $(LDFLAGS) $(PKG_LIBS) $(shell pkg-config --libs check)

$(BUILD)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB_OBJS) $(HDRS) $(TEST_HDRS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< tests/fuzz/replay.c \
	    $(LIB_OBJS) $(LDFLAGS) $(PKG_LIBS)

$(BUILD)/obj $(BUILD)/gen $(BUILD)/tests $(BUILD)/core:
	@mkdir -p $@

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $(CORE_OBJS)

# The fence around the core: it fails when a core source includes a shell
# header (or libmicrohttpd/GnuTLS), when a core object calls anything outside
# tests/core-allowed-symbols (no I/O, no environment, no sockets), or when the
# core's own suites do not link and pass with libmeshcore.a, jansson, libyaml
# and libcrypto alone.
CORE_SHELL_HDRS := server.h serve.h log.h watch.h metrics.h certs.h cli.h \
                   commands.h install.h offline.h report.h vap.h \
                   yamljson.h microhttpd.h gnutls/
check-core: $(CORE_LIB) $(CORE_SUITES:%=$(BUILD)/core/check_%)
	@set -e; bad=0; \
	for m in $(CORE_MODS); do \
	    for h in $(CORE_SHELL_HDRS); do \
	        if grep -n "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]$$h" webhook/$$m.c; then \
	            echo "check-core: webhook/$$m.c includes shell header $$h"; bad=1; fi; \
	    done; \
	done; \
	nm -g --defined-only $(CORE_LIB) | awk 'NF == 3 {print $$3}' \
	    > $(BUILD)/core/own-symbols; \
	grep -v -e '^#' -e '^$$' tests/core-allowed-symbols > $(BUILD)/core/allowed; \
	for o in $(CORE_OBJS); do \
	    for s in $$(nm -u $$o | awk '{print $$NF}' | sed 's/@.*//'); do \
	        echo "$$s" | grep -Fqx -f $(BUILD)/core/own-symbols || \
	        echo "$$s" | grep -Eqx -f $(BUILD)/core/allowed || \
	            { echo "check-core: $$o calls $$s (not in tests/core-allowed-symbols)"; bad=1; }; \
	    done; \
	done; \
	[ $$bad = 0 ] || exit 1; \
	for t in $(CORE_SUITES); do echo "== core: check_$$t"; $(BUILD)/core/check_$$t; done

$(BUILD)/core/check_%: tests/check_%.c tests/lib/testutil.c $(TEST_HDRS) $(CORE_LIB) $(HDRS) | $(BUILD)/core
	$(CC) $(CFLAGS) $(shell pkg-config --cflags jansson yaml-0.1 check) -o $@ $< \
	    tests/lib/testutil.c $(CORE_LIB) $(LDFLAGS) $(CORE_LIBS) -lpthread -lm \
	    $(shell pkg-config --libs check)

# Run the webhook on the embedded default config with a throwaway CA and
# serving certificate (written to certs/dev/, which git ignores).
run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/meshinject serve --dev --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:9090

test: deps
	@$(MAKE) --no-print-directory all tools
	@$(MAKE) --no-print-directory unit netns e2e cluster

unit: $(SUITES) $(REPLAYS) check-core
	@set -e; for t in $(SUITES); do echo "== $$t"; $$t; done; \
	for t in $(REPLAY_TARGETS); do \
	    echo "== replay fuzz_$$t: tests/fuzz/corpus/$$t"; \
	    $(BUILD)/tests/replay_$$t tests/fuzz/corpus/$$t/*; done

# The redirect moving real packets between two network namespaces (needs
# root; says SKIPPED otherwise).
netns: $(BUILD)/meshinject
	MESHINJECT_BIN=$(abspath $(BUILD)/meshinject) tests/netns/run.sh

NPM_CI = cd tests/e2e && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }

e2e: $(BUILD)/meshinject
	@$(NPM_CI)
	MESHINJECT_BIN=$(abspath $(BUILD)/meshinject) node --test --test-concurrency=1 tests/e2e/*.test.mjs

# The real control plane: etcd, kube-apiserver and kube-controller-manager on
# loopback, the chart installed with helm, workloads created with kubectl.
cluster: $(BUILD)/meshinject
	@$(NPM_CI)
	MESHINJECT_BIN=$(abspath $(BUILD)/meshinject) node --test --test-concurrency=1 tests/e2e/cluster/

# The image users pull, built with podman from base images made here with
# debootstrap (no registry is reachable); test-image runs it.
image:
	@tests/image/build.sh

test-image: $(BUILD)/meshinject
	@tests/image/test.sh

# Regenerate the `meshinject inject` golden outputs in tests/golden/. A
# deliberate act: review the diff before committing it.
golden: $(BUILD)/meshinject
	UPDATE_GOLDEN=1 MESHINJECT_BIN=$(abspath $(BUILD)/meshinject) node --test tests/e2e/offline.test.mjs

# The plain manifests for kubectl users, rendered from the chart (a test checks
# that they match).
manifests:
	./manifests/generate.sh

clean:
	rm -rf $(BUILD)

# Robustness and benchmarks (issue 6)
# check-asan: the unit and end-to-end suites built with AddressSanitizer and
# UndefinedBehaviorSanitizer (LeakSanitizer on). Every report also goes to a
# file under build/asan/sanitizer-logs/, so that a leak found at the exit of
# a process whose exit code nobody checks still fails the target.
# fuzz: libFuzzer (clang) targets for the pure core and the config loader,
# each for FUZZ_SECONDS, seeded from tests/fuzz/corpus/<target>/; new inputs
# go to build/fuzz/corpus/<target>/, crashes to build/fuzz/artifacts/.
# valgrind: the end-to-end suite with every meshinject run under memcheck.
# bench: throughput against nginx, latency, big pods, memory, start-up.
.PHONY: check-asan fuzz fuzz-build fuzz-regress valgrind bench
ASAN_BUILD   := build/asan
ASAN_LOGS    := $(abspath $(ASAN_BUILD))/sanitizer-logs
ASAN_ENV     := ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=16:log_path=$(ASAN_LOGS)/asan \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(ASAN_LOGS)/ubsan

check-asan:
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	@st=0; $(ASAN_ENV) $(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) \
	    SANITIZER=address,undefined OPT="-O1 -g" unit e2e || st=$$?; \
	if ls $(ASAN_LOGS)/* >/dev/null 2>&1; then \
	    for f in $(ASAN_LOGS)/*; do echo "--- $$f"; cat $$f; done; \
	    echo "check-asan: FAILED: sanitizer reports above"; exit 1; fi; \
	if [ $$st -ne 0 ]; then echo "check-asan: FAILED: tests failed"; exit $$st; fi; \
	echo "check-asan: OK: no sanitizer reports, no leaks"

FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?= -max_len=65536 -timeout=20 -rss_limit_mb=4096
FUZZ_BUILD   := build/fuzz
FUZZ_TARGETS := review config jsonread jsonwrite
# The core, plus the one shell file the harnesses need to read their config
# (config_file.c: config_load_file around the core's config_load_buffer).
FUZZ_OBJS    := $(patsubst %,$(FUZZ_BUILD)/obj/%.o,$(CORE_MODS) config_file default_config)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS) $(HDRS) $(TEST_HDRS)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -fsanitize=fuzzer \
	    -DFUZZ_CONFIG_PATH='"$(abspath tests/fuzz/fuzz-config.yaml)"' \
	    -DFUZZ_REVIEW_PATH='"$(abspath tests/fixtures/review-replicaset-pod.json)"' \
	    -o $@ $< $(FUZZ_OBJS) $(LDFLAGS) -fsanitize=fuzzer $(PKG_LIBS)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	    SANITIZER=fuzzer-no-link,address,undefined OPT="-O1 -g" $(FUZZ_BINS)

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts; \
	    echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	    $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_ARGS) \
	        -dict=tests/fuzz/$$t.dict -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
	        $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t; \
	done

# Every committed seed and regression case once, without fuzzing.
fuzz-regress: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz_$$t: tests/fuzz/corpus/$$t"; \
	    $(FUZZ_BUILD)/fuzz_$$t -runs=0 $(FUZZ_ARGS) tests/fuzz/corpus/$$t; \
	done

# valgrind: every meshinject the end-to-end tests start runs under memcheck
# (tests/fuzz/valgrind-meshinject.sh as MESHINJECT_BIN); it fails on any
# memcheck error or definite leak in any of them, or a failed test.
# MESHINJECT_E2E_SLOW=1 lets tests that can scale down their load.
VALGRIND_LOGS := $(abspath build/valgrind-logs)
valgrind: $(BUILD)/meshinject
	@$(NPM_CI)
	@rm -rf $(VALGRIND_LOGS) && mkdir -p $(VALGRIND_LOGS)
	@st=0; MESHINJECT_E2E_SLOW=1 MESHINJECT_REAL_BIN=$(abspath $(BUILD)/meshinject) \
	    MESHINJECT_VALGRIND_LOGS=$(VALGRIND_LOGS) \
	    MESHINJECT_BIN=$(abspath tests/fuzz/valgrind-meshinject.sh) \
	    node --test --test-concurrency=1 $(or $(VALGRIND_TESTS),tests/e2e/*.test.mjs) || st=$$?; \
	runs=$$(ls $(VALGRIND_LOGS) | wc -l); \
	bad=$$(grep -l "ERROR SUMMARY: [1-9]" $(VALGRIND_LOGS)/*.log); \
	killed=$$(grep -L "ERROR SUMMARY" $(VALGRIND_LOGS)/*.log | wc -l); \
	for f in $$bad; do echo "--- $$f"; cat $$f; done; \
	echo "valgrind: $$runs meshinject processes under memcheck:" \
	    "$$(echo $$bad | wc -w) with errors or definite leaks," \
	    "$$killed killed before their summary; tests exit $$st"; \
	[ -z "$$bad" ] && [ $$st -eq 0 ]

# bench: not part of make test; installs wrk, nginx-light and valgrind
# (Debian packages) when they are missing; Go builds vegeta and the Go webhook.
bench: all $(CORE_LIB)
	@./.ci/install-deps --bench
	@./tests/bench/run.sh
