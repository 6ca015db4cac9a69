# Two commands do all the set-up on a fresh machine (virtual environment, pinned dependencies, index).
.PHONY: run test eval bench bench-load

run:   ## start the web app (customer chat, agent sidebar, HTTP API) on 127.0.0.1:7860
	bash scripts/run.sh

test:  ## lint, the whole test suite (browser and server tests included) and the evaluation gate
	bash scripts/test.sh

eval:  ## the full evaluation run, report written under eval/reports/
	bash scripts/bootstrap.sh && .venv/bin/assistant eval --baselines

bench: ## retrieval benchmark and ingest/latency measurements, reports under eval/reports/
	bash scripts/bootstrap.sh && .venv/bin/assistant eval retrieval && .venv/bin/python -m assistant.evaluation.bench \
	&& .venv/bin/python -m assistant.evaluation.bench_ingest --write

bench-load: ## load test: two app processes sharing PostgreSQL and a Chroma server, driven by locust -> eval/reports/load.md
	bash scripts/bootstrap.sh && bash scripts/install_postgres.sh && .venv/bin/pip install -q -c requirements.lock -r requirements-bench.txt \
	&& .venv/bin/python -m assistant.evaluation.load_test --write
