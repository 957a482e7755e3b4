# idv: the two commands a newcomer needs are `make run` and `make test` (both do their own set-up).
SHELL := /bin/bash
CARGO ?= cargo
IDV := target/release/idv

.PHONY: setup build run test lint bench eval eval-documents fuzz fuzz-video fuzz-mrz clean-setup

## Fetch ONNX Runtime, the face and OCR models and the sample faces (idempotent; checks sha256).
setup:
	@./scripts/setup.sh

build: setup
	$(CARGO) build --release --locked

## Set up, build, run a demonstration verification, then the service (SQLite) with an API demo.
run: build
	@./scripts/demo.sh

## Set up, then run every test (unit, integration against the real models, accuracy on ../shared/data).
test:
	@./scripts/setup.sh --with-reference
	$(CARGO) test --locked --all-targets

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	@./scripts/setup.sh --with-reference
	.idv/bin/cargo-deny --offline check licenses bans sources
	python3 ../shared/tools/layers.py

## Criterion benchmarks of each stage and the whole per-image pipeline (see docs/BENCHMARKS.md).
bench: setup
	$(CARGO) bench --locked --bench pipeline
	$(CARGO) bench --locked --bench liveness
	$(CARGO) bench --locked --bench document

## Accuracy on the shared labelled set (see docs/ACCURACY.md).
eval: build
	$(IDV) eval --pairs $${IDV_SHARED_DATA:-../shared/data}/pairs.csv --root $${IDV_SHARED_DATA:-../shared/data} --plot docs/det.png

## MRZ reading on the PassportEye specimens, one intra-op thread (fully valid share, time per document).
eval-documents: build
	$(IDV) eval-documents --root $${IDV_SHARED_DATA:-../shared/data}/passporteye --intra-threads 1

fuzz:
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run decode_image -- -max_total_time=60

fuzz-video:
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run decode_video -- -max_total_time=180

fuzz-mrz:
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run mrz_text -- -max_total_time=120

clean-setup:
	rm -rf .idv models/*.onnx models/*.dict.txt models/*.part testdata
