# kgpex: `make demo` runs the pipeline on the embedded demo cohort; `make test` runs every test.
# Both start with `make setup`, which installs only what is missing.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
CORES ?= 2
# Debian 12 packages the workflow calls when it runs without --sdm conda/apptainer.
DEB_PACKAGES := salmon rna-star qtltools qtltools-example bcftools tabix samtools plink2 fastqtl fastqtl-doc sra-toolkit curl \
                r-base-core r-bioc-qvalue r-bioc-edger r-bioc-deseq2 r-bioc-tximport r-cran-susier python3-venv \
                slurm-wlm munge openssl chromium

.PHONY: setup system-packages venv demo report test lint format clean-demo

setup: system-packages venv

system-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done | tr '\n' ' '); \
	if [ -z "$$missing" ]; then echo "setup: Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "setup: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else \
	  echo "setup: missing Debian packages. Run as root:"; \
	  echo "  apt-get update && apt-get install -y $$missing"; \
	  exit 1; \
	fi

# The stamp is rebuilt only when the pinned requirements change.
venv: $(VENV)/.kgpex-installed

$(VENV)/.kgpex-installed: requirements.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.txt
	$(VENV)/bin/python -m pip install -q --no-deps -e .
	@touch $@

demo: setup
	$(VENV)/bin/snakemake --cores $(CORES)

# The Snakemake report of the last run: results/<cohort>/report.html (plots, captions, the run
# summary, MultiQC), the cohort read from the config. After a preset's run:
#   make report CONFIG=config/presets/mage.yaml
CONFIG ?= config/config.yaml
COHORT ?= $(shell $(VENV)/bin/python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["cohort"])' $(CONFIG))

report: setup
	$(VENV)/bin/snakemake --configfile $(CONFIG) --report results/$(COHORT)/report.html

# --durations: the slowest tests, to keep the suite inside CI's budget (README, Tests).
test: setup
	$(VENV)/bin/python -m pytest -ra --durations=30

lint: venv
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules

format: venv
	$(VENV)/bin/snakefmt Snakefile workflow/rules

clean-demo:
	rm -rf results/DEMO resources/demo/generated .snakemake
