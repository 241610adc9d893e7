# Users live in these targets. Each creates .venv from requirements.txt when missing.
# Variables: DATA (data root), RUN (a run folder), ARGS (extra flags for the command).
SHELL := /bin/bash
PY := .venv/bin/python
DATA ?= data
ARGS ?=
# A CPU torch wheel shipped on this machine image is preferred over PyPI's CUDA build.
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-*+cpu-cp311-*.whl))

.PHONY: help venv test test-all sohu-pretrain sohu-train sohu-predict sohu-baseline sohu-blend \
	power-mine power-eval power-bench ner-train ner-predict ner-bench \
	xiaobu-pretrain xiaobu-train xiaobu-predict xiaobu-baseline sohu-cv sohu-tune xiaobu-cv xiaobu-tune

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

.venv/.installed: requirements.txt
	test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH_WHEEL),$(PY) -m pip install -q $(TORCH_WHEEL),)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

venv: .venv/.installed ## create the virtual environment

test: venv ## fast test suite (slow tests skipped)
	$(PY) -m pytest -m "not slow" -q tests

test-all: venv ## every test, slow ones included
	$(PY) -m pytest -q tests

# k-fold and tuning (Sohu and Xiaobu). Rerunning the same command resumes the run / study.
FOLDS ?= 5
TRIALS ?= 20

# ---------------------------------------------------------------- Sohu 2021
SOHU_PRETRAINED := cache/sohu-pretrain

$(SOHU_PRETRAINED)/config.json: | venv
	$(PY) -m competitions.sohu.pretrain --data-dir $(DATA)/sohu2021 --corpus-dir $(DATA)/corpus --output-dir $(SOHU_PRETRAINED)

sohu-pretrain: $(SOHU_PRETRAINED)/config.json ## one-time pretraining, cached in cache/sohu-pretrain

SOHU_TFIDF := runs/sohu/tfidf-baseline/probabilities.npz

$(SOHU_TFIDF): | venv
	$(PY) -m competitions.sohu.baseline --data-dir $(DATA)/sohu2021

sohu-train: venv sohu-pretrain $(SOHU_TFIDF) ## train on data/sohu2021, write the neural and the blended submission
	$(PY) -m competitions.sohu.train --model $(SOHU_PRETRAINED) --data-dir $(DATA)/sohu2021 $(ARGS)

CV_RUN ?= cv$(FOLDS)
TUNE_RUN ?= tune

sohu-cv: venv sohu-pretrain ## k-fold CV on train+valid, OOF score, fold-averaged submission: make sohu-cv FOLDS=5
	$(PY) -m competitions.sohu.cv --model $(SOHU_PRETRAINED) --data-dir $(DATA)/sohu2021 --folds $(FOLDS) \
		--run-name $(CV_RUN) $(ARGS)

sohu-tune: venv sohu-pretrain ## Optuna study on the validation score: make sohu-tune TRIALS=20
	$(PY) -m competitions.sohu.tune --model $(SOHU_PRETRAINED) --data-dir $(DATA)/sohu2021 --trials $(TRIALS) \
		--run-name $(TUNE_RUN) $(ARGS)

sohu-predict: venv ## rewrite the submission of a saved run: make sohu-predict RUN=runs/sohu/<name>
	@test -n "$(RUN)" || (echo "usage: make sohu-predict RUN=runs/sohu/<name>" >&2; exit 2)
	$(PY) -m competitions.sohu.predict --run $(RUN) --data-dir $(DATA)/sohu2021 $(ARGS)

sohu-baseline: venv ## char n-gram TF-IDF + logistic regression reference
	$(PY) -m competitions.sohu.baseline --data-dir $(DATA)/sohu2021 $(ARGS)

sohu-blend: venv ## average saved runs: make sohu-blend RUNS="runs/sohu/a runs/sohu/tfidf-baseline"
	@test -n "$(RUNS)" || (echo "usage: make sohu-blend RUNS=\"runs/sohu/<a> runs/sohu/<b>\"" >&2; exit 2)
	$(PY) -m competitions.sohu.blend --runs $(RUNS) --data-dir $(DATA)/sohu2021 $(ARGS)

# ------------------------------------------------------- power-domain terms
POWER_RUN ?= default
SEEDS ?=

power-mine: venv ## mine terms from data/power_terms: make power-mine [POWER_RUN=name] [SEEDS=a,b]
	$(PY) -m competitions.power_terms.mine --data-dir $(DATA) --run $(POWER_RUN) $(if $(SEEDS),--seeds $(SEEDS)) $(ARGS)

power-eval: venv ## precision@k / recall / F1 of a mined list against the gold terms
	$(PY) -m competitions.power_terms.evaluate --data-dir $(DATA) --run $(POWER_RUN) $(ARGS)

power-bench: venv ## discovery throughput and memory vs nlp-zero (installs bench/requirements.txt)
	$(PY) bench/power_discovery.py $(ARGS)

# ------------------------------- NER (CLUENER, People's Daily, Weibo, Resume, power, CMeEE)
DATASET ?= cluener

ner-train: venv ## train NER on DATASET (default cluener): dev metrics + test prediction
	$(PY) -m competitions.ner.train --dataset $(DATASET) --data-root $(DATA) $(ARGS)

ner-predict: venv ## redo dev metrics + test prediction of a run: make ner-predict RUN=runs/ner/<name>
	@test -n "$(RUN)" || (echo "usage: make ner-predict RUN=runs/ner/<name>" >&2; exit 2)
	$(PY) -m competitions.ner.predict --run $(RUN) --data-root $(DATA) $(ARGS)

ner-bench: venv ## our GP/EGP vs bert4torch's GP/EGP vs CRF, one process, interleaved (bench/results/ner_heads.json)
	$(PY) -m bench.ner_heads --data-root $(DATA) $(ARGS)

# ------------------------------------------------------ Xiaobu (GAIIC 2021 track 3)
XIAOBU_PRETRAINED := cache/xiaobu-pretrain
PRETRAIN_ARGS ?=

$(XIAOBU_PRETRAINED)/config.json: | venv
	$(PY) -m competitions.xiaobu.pretrain --data-dir $(DATA)/xiaobu --output-dir $(XIAOBU_PRETRAINED) $(PRETRAIN_ARGS)

xiaobu-pretrain: $(XIAOBU_PRETRAINED)/config.json ## MLM pretraining on the ids (14 min budget), cached in cache/xiaobu-pretrain

xiaobu-train: venv xiaobu-pretrain ## fine-tune on data/xiaobu and write the submission
	$(PY) -m competitions.xiaobu.train --model $(XIAOBU_PRETRAINED) --data-dir $(DATA)/xiaobu $(ARGS)

xiaobu-cv: venv xiaobu-pretrain ## k-fold CV on the train file, OOF AUC, fold-averaged submission: make xiaobu-cv FOLDS=5
	$(PY) -m competitions.xiaobu.cv --model $(XIAOBU_PRETRAINED) --data-dir $(DATA)/xiaobu --folds $(FOLDS) \
		--run-name $(CV_RUN) $(ARGS)

xiaobu-tune: venv xiaobu-pretrain ## Optuna study on the validation AUC: make xiaobu-tune TRIALS=20
	$(PY) -m competitions.xiaobu.tune --model $(XIAOBU_PRETRAINED) --data-dir $(DATA)/xiaobu --trials $(TRIALS) \
		--run-name $(TUNE_RUN) $(ARGS)

xiaobu-predict: venv ## rewrite the submission of a saved run: make xiaobu-predict RUN=runs/xiaobu/<name>
	@test -n "$(RUN)" || (echo "usage: make xiaobu-predict RUN=runs/xiaobu/<name>" >&2; exit 2)
	$(PY) -m competitions.xiaobu.predict --run $(RUN) --data-dir $(DATA)/xiaobu $(ARGS)

xiaobu-baseline: venv ## id n-gram TF-IDF + logistic regression reference
	$(PY) -m competitions.xiaobu.baseline --data-dir $(DATA)/xiaobu $(ARGS)
