# The two entry commands of the README's Quick start: `make demo` and `make test`.
# Each installs missing Debian packages (.ci/deps), configures and builds.

BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS ?= $(shell nproc)
CMAKE ?= cmake
CMAKE_FLAGS ?=
FPSCOPE = $(BUILD)/cli/fpscope
PYTHON ?= /usr/bin/python3

.PHONY: all deps configure build demo test test-unit test-asan test-python test-fuzz test-exhaustive bench clean

all: build

deps:
	@.ci/deps

configure: deps
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=$(PYTHON) $(CMAKE_FLAGS)

build: configure
	$(CMAKE) --build $(BUILD) -j $(JOBS)

demo: build
	@mkdir -p out
	$(FPSCOPE) formats
	$(FPSCOPE) convert 3.14 0.1 1e-7 500 --to fp16,bf16,e4m3,e5m2
	$(FPSCOPE) analyze examples/data/tiny-gpt --threads $(JOBS) --json out/result.json --csv out/result.csv
	$(FPSCOPE) report out/result.json -o out/report.html --md out/report.md
	@echo "open out/report.html (offline, self-contained); out/report.md for pull requests"

# Every test: the Release build's ctest (exhaustive and GPU labels excluded),
# the sanitizer build's unit tests, and pytest.
test: test-unit test-asan test-python test-fuzz

test-unit: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900 -LE 'exhaustive'

test-asan: deps
	$(CMAKE) -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFPSCOPE_SANITIZE=ON \
	  -DFPSCOPE_CUDA=OFF -DFPSCOPE_BENCH=OFF -DFPSCOPE_PYTHON=OFF -DPython3_EXECUTABLE=$(PYTHON)
	$(CMAKE) --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 1800 -L unit

test-python: build
	@if [ -d python/tests ]; then \
	  PYTHONPATH=$(CURDIR)/$(BUILD)/python FPSCOPE_BIN=$(CURDIR)/$(FPSCOPE) \
	    $(PYTHON) -m pytest -q python/tests; \
	fi

# libFuzzer targets for the readers (tests/fuzz/), clang only: each runs
# FUZZ_SECONDS over its committed seed corpus; a crash fails the target and
# leaves its input in $(FUZZ_BUILD)/tests/fuzz/artifacts/.
test-fuzz: deps
	$(CMAKE) -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFPSCOPE_FUZZ=ON -DFPSCOPE_FUZZ_SECONDS=$(FUZZ_SECONDS) \
	  -DFPSCOPE_CUDA=OFF -DFPSCOPE_BENCH=OFF -DFPSCOPE_PYTHON=OFF -DPython3_EXECUTABLE=$(PYTHON)
	$(CMAKE) --build $(FUZZ_BUILD) -j $(JOBS) --target fpscope_fuzzers
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

# Long sweeps (every float32 input against the CUDA headers' host code, ...).
test-exhaustive: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure -L exhaustive

bench: build
	$(BUILD)/bench/fpscope_bench
	$(BUILD)/bench/fpscope_bench_analyze

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) out
