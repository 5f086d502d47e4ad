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
OBJS     := $(SRCS:webhook/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/default_config.o
LIB_OBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
HDRS     := $(wildcard include/*.h)
SUITES   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/check_*.c))

.PHONY: all deps run test unit netns e2e clean manifests
all: $(BUILD)/meshinject

deps:
	@./.ci/install-deps

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

$(BUILD)/meshinject: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

$(BUILD)/tests/check_%: tests/check_%.c $(LIB_OBJS) $(HDRS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(shell pkg-config --cflags check) -o $@ $< \
	    $(LIB_OBJS) $(LDFLAGS) $(PKG_LIBS) $(shell pkg-config --libs check)

$(BUILD)/obj $(BUILD)/gen $(BUILD)/tests:
	@mkdir -p $@

# Run the webhook on the embedded default config with a throwaway CA and
# serving certificate (written to certs/dev/, which git ignores).
run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/meshinject serve --dev --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:9090

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit netns e2e

unit: $(SUITES)
	@set -e; for t in $(SUITES); do echo "== $$t"; $$t; done

# The redirect moving real packets between two network namespaces (needs
# root; says SKIPPED otherwise).
netns: $(BUILD)/meshinject
	MESHINJECT_BIN=$(abspath $(BUILD)/meshinject) tests/netns/run.sh

e2e: $(BUILD)/meshinject
	@cd tests/e2e && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }
	MESHINJECT_BIN=$(abspath $(BUILD)/meshinject) node --test --test-concurrency=1 tests/e2e/

# The plain manifests for kubectl users, rendered from the chart (a test checks
# that they match).
manifests:
	./manifests/generate.sh

clean:
	rm -rf $(BUILD)
