# Quick start: `make run` (one node on loopback, data in ./data) and `make test`.
# SANITIZE=address,undefined builds into build-san/ with sanitizers; TESTS=<regex> narrows ctest.

SANITIZE ?=
TESTS ?=
LABELS ?=
JOBS ?= $(shell nproc)
BUILD_TYPE ?= RelWithDebInfo

ifeq ($(SANITIZE),)
BUILD_DIR ?= build
else
BUILD_DIR ?= build-san
endif

export CCACHE_DIR ?= $(CURDIR)/.ccache
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/ubsan.supp
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/lsan.supp

.PHONY: all deps configure build run test clean

all: build

deps:
	@./scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTRIBUTARY_SANITIZE=$(SANITIZE)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@mkdir -p data
	$(BUILD_DIR)/node/tributaryd --data-dir ./data --streaming-ingestion=on \
	  --rpc-listen 127.0.0.1:7400 --metrics-listen 127.0.0.1:9400 --http-listen 127.0.0.1:8080

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) \
	  $(if $(TESTS),-R '$(TESTS)') $(if $(LABELS),-L '$(LABELS)')

clean:
	rm -rf build build-san
