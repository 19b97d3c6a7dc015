# A thin front door: the work is done by CMake presets and scripts/.
#   make demo   install what is missing, build, print the scenario matrix (exit 0 iff all ok)
#   make test   install what is missing, build every configuration, run every test
#   make bench  install what is missing (and valgrind, electric-fence, strace), build, run the
#               benchmarks, record them in docs/BENCHMARKS.md
#   make fuzz   install what is missing, build, fuzz every class target for FUZZ_SECONDS each
#               (the fixed code: no fault switch); results in build/fuzz-artifacts/<target>.json,
#               crashing inputs in build/fuzz-artifacts/<target>/; fails if any target crashed.
#               make fuzz FUZZ_TARGETS=double_close FUZZ_SECONDS=10 FUZZ_ARGS='--seed 1'

.PHONY: demo test bench fuzz deps clean

# The class fuzz targets (DESIGN.md: named after their class with underscores) that exist.
FUZZ_TARGETS ?= $(filter pipe_disconnect module_unload double_close gc_async,\
                  $(basename $(notdir $(wildcard fuzz/*.c))))
FUZZ_SECONDS ?= 60
FUZZ_ARGS ?=

deps:
	@scripts/install-deps --check >/dev/null || scripts/install-deps

demo: deps
	scripts/lifeguard matrix

test: deps
	ci/gate.sh

# bench also needs the tools it compares lifeguard with (valgrind, electric-fence, strace).
bench: deps
	@scripts/install-deps --bench --check >/dev/null || scripts/install-deps --bench
	scripts/lifeguard bench --update-docs

fuzz: deps
	@mkdir -p build/fuzz-artifacts
	@status=0; for t in $(FUZZ_TARGETS); do \
	  echo "scripts/lifeguard fuzz $$t --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)"; \
	  scripts/lifeguard fuzz $$t --seconds $(FUZZ_SECONDS) \
	    --json build/fuzz-artifacts/$$t.json $(FUZZ_ARGS) || status=1; \
	done; exit $$status

clean:
	rm -rf build
