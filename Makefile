# SPDX-License-Identifier: MIT
# A thin front door: the work is done by CMake presets and scripts/.
#   make demo   install what is missing, build, print the scenario matrix (exit 0 iff all ok)
#   make test   install what is missing (afl++ too), build every configuration, run every test
#   make bench  install what is missing (and valgrind, electric-fence, strace), build, run the
#               benchmarks, record them in docs/BENCHMARKS.md
#   make fuzz   install what is missing, build, fuzz every class target for FUZZ_SECONDS each
#               (the fixed code: no fault switch); results in build/fuzz-artifacts/<target>.json,
#               crashing inputs in build/fuzz-artifacts/<target>/; fails if any target crashed.
#               make fuzz FUZZ_TARGETS=double_close FUZZ_SECONDS=10 FUZZ_ARGS='--seed 1'
#               make fuzz ENGINE=afl: the same with AFL++ (installs afl++; build/afl, the afl
#               preset); results in build/fuzz-artifacts/afl/<target>.json and <target>/
#   make coverage  build the fuzz targets' replay mains with clang's source-based coverage
#               (build/coverage), replay the corpora and regressions (and the regressions with
#               their fault switches), print the totals; the line-by-line report of runtime/
#               and harness/ is build/coverage/html/index.html, runtime/'s unreached lines
#               build/coverage/unreached.txt (docs/COVERAGE.md says why); fails below
#               COVERAGE_MIN (default 90) percent of runtime/'s lines
#   make nightly  install what is missing, build, fuzz every target for NIGHTLY_BUDGET seconds
#               in all (fork mode); reports, candidate regressions and the working corpus in
#               NIGHTLY_OUT (a killed run continues there); corpora/ is only read; fails if a
#               new crash was found or a fuzzer was killed.
#               make nightly NIGHTLY_BUDGET=600 NIGHTLY_ARGS='--targets gc_async'
#               make nightly NIGHTLY_ARGS='--inject 2'  (failure injection: at most 2 per execution)
#   make nightly-merge  merge NIGHTLY_OUT's working corpora into corpora/ (a deliberate step:
#               review and commit what it adds)
#   make nightly-kernels  every clean twin of bench/kernels/ run KERNELS_RUNS (10000) times
#               under each explore strategy (ci/nightly-kernels.sh); results in
#               NIGHTLY_OUT/kernels-clean.json (a killed run continues there); fails if a
#               twin failed or hung
#   make slow-tests  the driver tests the gate leaves out (pytest -m slow, both trees;
#               ci/slow-tests.sh), JUnit in build/slow-tests.xml

.PHONY: demo test bench fuzz coverage nightly nightly-merge nightly-kernels slow-tests deps \
        clean

# make's "Entering directory" lines (two per CMake sub-make, hundreds per build) say nothing.
MAKEFLAGS += --no-print-directory

# The class fuzz targets (named after their class, with underscores) that exist.
FUZZ_TARGETS ?= $(filter pipe_disconnect module_unload double_close gc_async,\
                  $(basename $(notdir $(wildcard fuzz/*.c))))
FUZZ_SECONDS ?= 60
FUZZ_ARGS ?=
NIGHTLY_BUDGET ?= 3600
NIGHTLY_OUT ?= build/nightly
NIGHTLY_ARGS ?=
KERNELS_RUNS ?= 10000
KERNELS_ARGS ?=
ENGINE ?= libfuzzer
FUZZ_OUT = build/fuzz-artifacts$(if $(filter afl,$(ENGINE)),/afl)

deps:
	@scripts/install-deps --check >/dev/null || scripts/install-deps

demo: deps
	scripts/lifeguard matrix

# (deps plus afl++, in one install: tests/driver/test_fuzz_afl.py runs the AFL++ build)
test:
	@scripts/install-deps --afl --check >/dev/null || scripts/install-deps --afl
	ci/gate.sh

# bench also needs the tools it compares lifeguard with (valgrind, electric-fence, strace).
bench: deps
	@scripts/install-deps --bench --check >/dev/null || scripts/install-deps --bench
	scripts/lifeguard bench --update-docs

fuzz: deps
	@[ "$(ENGINE)" != afl ] || scripts/install-deps --afl --check >/dev/null || scripts/install-deps --afl
	@mkdir -p $(FUZZ_OUT)
	@status=0; for t in $(FUZZ_TARGETS); do \
	  echo "scripts/lifeguard fuzz $$t --engine $(ENGINE) --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)"; \
	  scripts/lifeguard fuzz $$t --engine $(ENGINE) --seconds $(FUZZ_SECONDS) \
	    --json $(FUZZ_OUT)/$$t.json $(FUZZ_ARGS) || status=1; \
	done; exit $$status

coverage: deps
	ci/coverage.sh

nightly: deps
	NIGHTLY_BUDGET=$(NIGHTLY_BUDGET) NIGHTLY_OUT=$(NIGHTLY_OUT) ci/nightly.sh $(NIGHTLY_ARGS)

nightly-merge: deps
	scripts/lifeguard nightly --merge-only --out $(NIGHTLY_OUT) $(NIGHTLY_ARGS)

nightly-kernels: deps
	KERNELS_RUNS=$(KERNELS_RUNS) NIGHTLY_OUT=$(NIGHTLY_OUT) ci/nightly-kernels.sh $(KERNELS_ARGS)

slow-tests:
	ci/slow-tests.sh

clean:
	rm -rf build
