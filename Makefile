# A thin front door: the work is done by CMake presets and scripts/.
#   make demo   install what is missing, build, print the scenario matrix (exit 0 iff all ok)
#   make test   install what is missing, build every configuration, run every test
#   make bench  install what is missing, build, run the benchmarks, record them in docs/BENCHMARKS.md

.PHONY: demo test bench deps clean

deps:
	@scripts/install-deps --check >/dev/null || scripts/install-deps

demo: deps
	scripts/lifeguard matrix

test: deps
	ci/gate.sh

bench: deps
	scripts/lifeguard bench --update-docs

clean:
	rm -rf build
