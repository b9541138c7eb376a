# burden: raw -> processed -> fitted models -> attribution -> figures and report.
# Real file targets: a second `make report` does nothing; touching an input rebuilds only
# what depends on it. The first run bootstraps .venv from requirements.lock.

SHELL := /bin/bash
# a failed command leaves no target (a fit or table half written, an interrupt)
.DELETE_ON_ERROR:

# Exit 3 of `burden fit` / `burden backtest`: it finished and saved its file, but a fit did
# not converge. The file stays (make would delete it on a failure): it is what diagnosis
# needs, its result tables say NOT CONVERGED and the report flags it in red at the top.
# make says so loudly and goes on; it does not refit until an input changes (delete the
# file to refit). Any other exit (a crash, Ctrl-C) is a failure: the target is deleted
KEEP_IF_NOT_CONVERGED = || { status=$$?; if [ $$status -eq 3 ]; then \
  echo "make: WARNING: $@: a fit DID NOT CONVERGE (exit 3); kept for diagnosis and the report, \
  which flags it; delete it to run it again" >&2; \
  else exit $$status; fi; }

PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
VENV := .venv
BURDEN := $(VENV)/bin/burden
STAMP := $(VENV)/.installed

RAW := data/raw
PROC := data/processed
MODELS := models
OUT := reports/output

# Offline machines: a sibling shared/data/raw folder serves as the mirror unless one is set.
BURDEN_DATA_MIRROR ?= $(firstword $(wildcard $(abspath ../shared/data/raw)))
export BURDEN_DATA_MIRROR

.PHONY: all report data models test test-validation test-all test-fast lint benchmark backtest validate sbc clean clean-all venv profile clean-validation

all: report

# ---- environment -----------------------------------------------------------------------
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else \
	  "burden needs Python >= 3.12 (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.12")'
	@echo "setting up $(VENV) (first run only; a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

venv: $(STAMP)

# ---- code each step depends on -----------------------------------------------------------
# A rule lists the package modules its command imports (all of them, tests/test_build.py
# checks it from the imports), directly or through a prerequisite that lists them.
# Every command: the command line, the process settings that pin the draws
# (config.use_process_defaults) and the package version saved with each fit
CLI_CODE := burden/cli.py burden/config.py burden/__init__.py

# ---- data ------------------------------------------------------------------------------
DATA_CODE := burden/data/build.py burden/data/cleaning.py burden/data/schemas.py \
             burden/table_checks.py \
             burden/data/fetch.py burden/data/textfile.py burden/data/loaders/reference.py \
             burden/registry/sources.py burden/registry/locations.py \
             burden/registry/causes.py burden/registry/estimands.py \
             burden/registry/published.py burden/registry/gbd_locations.csv $(CLI_CODE)

$(RAW)/%: | $(STAMP)
	$(BURDEN) fetch $*

$(PROC)/gbd_deaths.parquet: $(RAW)/owid_gbd2017_drug_use_disorder_deaths.csv \
    $(RAW)/owid_gbd2017_opioid_death_rate_agestd.csv \
    $(RAW)/owid_gbd2019_substance_use_disorder_deaths.csv \
    $(RAW)/owid_gbd2019_opioid_death_rate_agestd.csv \
    $(RAW)/owid_gbd2019_drug_use_disorder_death_rate_agestd.csv \
    burden/data/loaders/owid_gbd.py $(DATA_CODE)
	$(BURDEN) data --table gbd_deaths

$(PROC)/us_deaths_by_drug.parquet: $(RAW)/nida_overdose_deaths_by_drug_1999_2019.csv \
    $(RAW)/nida_overdose_rates_by_demographics_1999_2019.csv burden/data/loaders/nida.py $(DATA_CODE)
	$(BURDEN) data --table us_deaths_by_drug

$(PROC)/us_provisional.parquet: $(RAW)/cdc_vsrr_provisional_overdose_2015_2018.csv \
    burden/data/loaders/vsrr.py $(DATA_CODE)
	$(BURDEN) data --table us_provisional

$(PROC)/us_county_deaths.parquet: $(RAW)/cdc_wonder_opioid_overdose_by_county_2006_2012.txt \
    burden/data/loaders/wonder.py $(DATA_CODE)
	$(BURDEN) data --table us_county_deaths

$(PROC)/population.parquet: $(RAW)/worldbank_population.csv burden/data/loaders/worldbank.py \
    $(DATA_CODE)
	$(BURDEN) data --table population

$(PROC)/production_measurements.parquet: burden/registry/reference/opium_production_published.csv \
    burden/data/loaders/reference.py $(DATA_CODE)
	$(BURDEN) data --table production_measurements

$(PROC)/signature_shares.parquet: burden/registry/reference/heroin_signature_program_published.csv \
    burden/data/loaders/reference.py $(DATA_CODE)
	$(BURDEN) data --table signature_shares

# National US series of a later VSRR release (2015-2025); the raw file is an extract of the
# published file (registry.sources: extract), made by `burden fetch` when it downloads
$(PROC)/us_provisional_national.parquet: $(RAW)/cdc_vsrr_provisional_overdose_us_2015_2025.csv \
    burden/data/loaders/vsrr.py $(DATA_CODE)
	$(BURDEN) data --table us_provisional_national

TABLES := gbd_deaths us_deaths_by_drug us_provisional us_county_deaths population \
          production_measurements signature_shares us_provisional_national \
          canada_opioid_deaths drug_use_prevalence drug_seizures

# Canada (PHAC) and UNODC tables
$(PROC)/canada_opioid_deaths.parquet: $(RAW)/phac_substance_related_harms_2016_2025.csv \
    burden/data/loaders/phac.py $(DATA_CODE)
	$(BURDEN) data --table canada_opioid_deaths

$(PROC)/drug_use_prevalence.parquet: $(RAW)/unodc_drug_use_prevalence_general.json \
    burden/data/loaders/unodc.py burden/data/jsonfile.py burden/registry/opioid_classes.py \
    $(DATA_CODE)
	$(BURDEN) data --table drug_use_prevalence

$(PROC)/drug_seizures.parquet: $(RAW)/unodc_drug_seizures_2018_2022.json \
    burden/data/loaders/unodc.py burden/data/jsonfile.py burden/registry/opioid_classes.py \
    $(DATA_CODE)
	$(BURDEN) data --table drug_seizures

PROCESSED := $(TABLES:%=$(PROC)/%.parquet)
# every table needs the environment, the two reference tables (no raw file, whose fetch rule
# carries it) too: on a fresh clone `make report` ran them beside the .venv set-up, and failed
$(PROCESSED): | $(STAMP)

data: $(PROCESSED)

# ---- models: fit -> summarise (result tables) -> attribute ---------------------------------
MODEL_CODE := burden/models/base.py burden/models/config.py burden/models/fast_diagnostics.py \
              burden/models/logistic.py burden/models/batched.py \
              burden/models/posterior_predictive.py burden/models/storage.py \
              burden/registry/keys.py burden/result_schemas.py burden/table_checks.py \
              burden/fits.py burden/draws.py $(CLI_CODE)
PRODUCTION_CODE := burden/models/production.py burden/models/production_walk.py \
                   burden/registry/markets.py
DEATHS_CODE := burden/models/deaths.py burden/models/deaths_data.py \
               burden/models/deaths_graph.py burden/models/trends.py
DEATHS_TABLES := $(PROC)/gbd_deaths.parquet $(PROC)/population.parquet \
                 $(PROC)/us_deaths_by_drug.parquet $(PROC)/us_provisional_national.parquet
SUMMARY_CODE := burden/summarise.py burden/result_schemas.py \
                burden/validate/loo_pit.py burden/validate/log_density.py \
                burden/validate/prior_sensitivity.py burden/models/posterior_predictive.py \
                burden/validate/ppc.py burden/validate/psis.py burden/table_checks.py \
                burden/models/batched.py burden/attribution.py burden/models/markets_data.py \
                burden/models/printed_dirichlet.py burden/models/composition_data.py \
                burden/registry/markets.py

$(MODELS)/deaths.nc: $(DEATHS_TABLES) $(DEATHS_CODE) $(MODEL_CODE)
	$(BURDEN) fit deaths --no-summary --write-results $(KEEP_IF_NOT_CONVERGED)

$(MODELS)/production.nc: $(PROC)/production_measurements.parquet $(PRODUCTION_CODE) \
    $(MODEL_CODE)
	$(BURDEN) fit production --no-summary --write-results $(KEEP_IF_NOT_CONVERGED)

$(MODELS)/markets.nc: $(MODELS)/production.nc $(PROC)/signature_shares.parquet \
    burden/models/markets.py burden/models/markets_data.py burden/models/printed_dirichlet.py \
    burden/registry/markets.py burden/models/deaths_graph.py burden/models/deaths_data.py \
    burden/models/trends.py $(MODEL_CODE)
	$(BURDEN) fit markets --no-summary --write-results $(KEEP_IF_NOT_CONVERGED)

# certified opioid-involved overdose deaths, US by drug and Canada, to the present
$(MODELS)/certified.nc: $(PROC)/us_deaths_by_drug.parquet $(PROC)/us_provisional_national.parquet \
    $(PROC)/canada_opioid_deaths.parquet burden/models/certified.py \
    burden/models/certified_data.py burden/models/trends.py burden/registry/observations.py \
    $(MODEL_CODE)
	$(BURDEN) fit certified --no-summary --write-results $(KEEP_IF_NOT_CONVERGED)

# shares of opioid deaths by drug type (US, Canada measured; elsewhere UNODC evidence)
$(MODELS)/composition.nc: $(PROC)/us_deaths_by_drug.parquet \
    $(PROC)/us_provisional_national.parquet $(PROC)/canada_opioid_deaths.parquet $(PROC)/drug_use_prevalence.parquet \
    $(PROC)/drug_seizures.parquet burden/models/composition.py \
    burden/models/composition_data.py $(MODEL_CODE)
	$(BURDEN) fit composition --no-summary --write-results $(KEEP_IF_NOT_CONVERGED)

# every fit's result tables: models/<fit>/*.csv beside models/<fit>.nc, manifest last.
# A fit writes its tables itself (`--write-results`: the summary's imports once fewer a
# fit); make then remakes this target anyway, because its prerequisite was
# remade, so `--unless-newer-than` skips a manifest written after every prerequisite.
# It summarises after a change of the summary code alone, or when the fit's own summary
# failed (which leaves no manifest)
$(MODELS)/%/manifest.json: $(MODELS)/%.nc $(SUMMARY_CODE)
	@echo "$(BURDEN) summarise $* --unless-newer-than $< (and the summary code)"
	@$(BURDEN) summarise $* --unless-newer-than $^

# the four fits' result tables first (order only): `--write-results` reads the markets'
# tables and the fits' manifests, which a summarise step of their own could be rewriting
$(MODELS)/attribution.nc: $(MODELS)/deaths.nc $(MODELS)/markets.nc $(MODELS)/composition.nc \
    burden/attribution.py | $(MODELS)/deaths/manifest.json $(MODELS)/production/manifest.json \
    $(MODELS)/markets/manifest.json $(MODELS)/composition/manifest.json
	$(BURDEN) attribute --write-results

# the markets' route priors beside the UNODC seizures (summarise._markets reads the table)
$(MODELS)/markets/manifest.json: $(PROC)/drug_seizures.parquet

# attribution's prior-driven flags read the markets' result tables
$(MODELS)/attribution/manifest.json: $(MODELS)/deaths/manifest.json \
    $(MODELS)/production/manifest.json $(MODELS)/markets/manifest.json \
    $(MODELS)/composition/manifest.json

# ---- validation (`make validate`): keyed on models, code and data, not on the report's path;
# the report shows the latest results with the date they were run, when they exist
# Rolling-origin back-test of the deaths model (cuts 2010 and 2014, against baselines)
# (it scores against the certified back-test's baselines: that module and its imports)
$(MODELS)/deaths_backtest.csv: $(DEATHS_TABLES) $(DEATHS_CODE) $(MODEL_CODE) \
    burden/validate/backtest.py burden/validate/certified_backtest.py \
    burden/validate/scoring.py burden/models/certified.py burden/models/certified_data.py \
    burden/registry/observations.py
	$(BURDEN) backtest deaths $(KEEP_IF_NOT_CONVERGED)

# Leave-one-round-out: fit on one GBD round, score the other's values
$(MODELS)/deaths_rounds.csv: $(DEATHS_TABLES) $(DEATHS_CODE) $(MODEL_CODE) \
    burden/validate/rounds.py
	$(BURDEN) backtest rounds $(KEEP_IF_NOT_CONVERGED)

# GNU make -j starts what it reaches first in this order (it has no priorities): the
# composition fit before the markets and certified ones, so that the attribution can start
# soon after the deaths fit. Replayed on a mock of these rules (the processed tables
# already built, as `make report` does) with the step times of the d8d5f09 profile
# (`python analysis/make_order.py docs/profiles/d8d5f09.md`, 2026-12-01): cold 463 ->
# 410 s, warm 286 -> 279 s against the order deaths production markets certified
# composition attribution
RESULTS := $(foreach f,deaths production composition attribution markets certified,\
             $(MODELS)/$(f)/manifest.json)

# Rolling-origin back-test of the certified model against statsmodels baselines (the report
# shows its table by horizon when it exists, and says so when it does not)
$(MODELS)/certified_backtest.csv: $(MODELS)/certified.nc burden/validate/certified_backtest.py \
    burden/validate/scoring.py burden/models/trends.py burden/registry/observations.py
	$(BURDEN) backtest certified $(KEEP_IF_NOT_CONVERGED)

validate: $(MODELS)/deaths_backtest.csv $(MODELS)/certified_backtest.csv \
    $(MODELS)/deaths_rounds.csv $(RESULTS) $(PROCESSED)
	$(BURDEN) report

models: $(RESULTS)

# Simulation-based calibration (`make sbc`, not on the report's path; the report shows the
# saved runs when they exist): prior draws, simulated data on a reduced real design, one fit
# each on an embedded Dask LocalCluster (one worker per core). SBC_SIMS simulations per
# model; SBC_SCHEDULER=tcp://host:port sends the fits to an existing Dask cluster. Exit 3
# (a parameter outside its band, or a failed simulation) is a finished run: its tables stay.
SBC_SIMS ?= 200
SBC_MODELS ?= production
SBC_SCHEDULER ?=
SBC_CODE := burden/validate/sbc.py burden/validate/sbc_specs.py burden/validate/sbc_stats.py \
            burden/validate/sbc_worlds.py burden/validate/posterior_sbc.py \
            burden/validate/sbc_pack.py $(MODEL_CODE)

# (its design is read from the published table by the reference loader)
$(MODELS)/sbc/production/manifest.json: $(PRODUCTION_CODE) \
    burden/registry/reference/opium_production_published.csv $(DATA_CODE) $(SBC_CODE) \
    | $(STAMP)
	$(BURDEN) validate sbc --model production --simulations $(SBC_SIMS) \
	  $(if $(SBC_SCHEDULER),--scheduler $(SBC_SCHEDULER)) || [ $$? -eq 3 ]

# certified (SBC_MODELS="production certified"; sampling 7-13 s a fit here) on worlds like ours:
# prior worlds whose counts put a drug's share of US opioid deaths at 0 or at 1 or above
# (most of them) leave a flat direction where the fits diverge; the data-only rule keeps
# the ranks uniform (docs/validation/sbc.md, "certified: where its fits diverge")
$(MODELS)/sbc/certified/manifest.json: $(PROC)/us_deaths_by_drug.parquet \
    $(PROC)/us_provisional_national.parquet $(PROC)/canada_opioid_deaths.parquet \
    burden/models/certified.py burden/models/certified_data.py burden/models/trends.py \
    burden/registry/observations.py burden/validate/sbc_worlds.py $(SBC_CODE) | $(STAMP)
	$(BURDEN) validate sbc --model certified --simulations $(SBC_SIMS) --worlds like-ours \
	  $(if $(SBC_SCHEDULER),--scheduler $(SBC_SCHEDULER)) || [ $$? -eq 3 ]

# deaths, posterior SBC (SBC_MODELS=deaths-posterior): its prior worlds' fits do not
# converge, so the true values are draws of the real fit and each fit sees the real data and
# a simulated copy (docs/validation/sbc.md, "Posterior worlds"). Sampling takes 182-347 s
# a fit on one core here (2026-12-06, depending on the machine): 200 simulations take 5-9
# hours on 2 workers. The run writes a checkpoint every 10 simulations; make keeps it when
# stopped (.PRECIOUS), and while the manifest is a checkpoint's the next `make sbc` goes on
# from it (--resume). With no run in the folder it starts from simulation 0, or goes on
# from a packed run given as SBC_PACK=<pack> (docs/validation/runs/README.md). The packs in
# the repository are of the fit `make report` made until 2026-12-07 (its every draw at 18
# mantissa bits; fingerprint cef8473e4416cb80), not of today's (every 2nd draw, every bit):
# the run refuses them, naming the fit, except in a clone of c116f3e
DEATHS_POSTERIOR_SBC := $(MODELS)/sbc/deaths-posterior/manifest.json
DEATHS_POSTERIOR_CHECKPOINT := $(shell grep -l '"checkpoint"' $(DEATHS_POSTERIOR_SBC) 2>/dev/null)
SBC_PACK ?=
.PRECIOUS: $(DEATHS_POSTERIOR_SBC)
$(DEATHS_POSTERIOR_SBC): $(MODELS)/deaths.nc burden/validate/posterior_sbc.py $(SBC_CODE) \
    $(if $(DEATHS_POSTERIOR_CHECKPOINT),sbc-checkpoint) | $(STAMP)
	$(BURDEN) validate sbc --model deaths --worlds posterior --simulations $(SBC_SIMS) \
	  $(if $(DEATHS_POSTERIOR_CHECKPOINT),--resume,$(if $(SBC_PACK),$(if \
	    $(wildcard $(DEATHS_POSTERIOR_SBC)),,--resume-from $(SBC_PACK)))) \
	  $(if $(SBC_SCHEDULER),--scheduler $(SBC_SCHEDULER)) || [ $$? -eq 3 ]

.PHONY: sbc-checkpoint
sbc-checkpoint:

sbc: $(SBC_MODELS:%=$(MODELS)/sbc/%/manifest.json)

# ---- report ----------------------------------------------------------------------------
REPORT_CODE := $(wildcard burden/plots/*.py burden/report/*.py burden/report/templates/*) \
               burden/result_schemas.py burden/validate/scoring.py burden/validate/sbc_stats.py \
               burden/registry/observations.py

# validation results are not prerequisites (an existing back-test file would be re-run when
# the model code changes, putting validation back on the report's path): the report reads
# whatever `make validate` / `make sbc` last wrote; `make validate` re-renders it, and an
# SBC run appears at the next `burden report`
$(OUT)/index.html: $(RESULTS) $(PROCESSED) $(REPORT_CODE) | $(OUT)/figures/fits.stamp
	$(BURDEN) report

# the five fits' figures, drawn while the attribution runs on the other core (alone
# otherwise: 16 s of one idle core in the warm profile of f71438f), into a staging folder
# (the page and its figures untouched until the report); niced, so that they take what the
# attribution leaves. By one process they ended 6 s after it (16 CPU-seconds; warm
# profiles of bf5fbe9, docs/performance.md). The report takes over every staged figure
# whose data, arguments and code are unchanged, and draws the rest
FIT_RESULTS := $(foreach f,deaths production composition markets certified,\
                 $(MODELS)/$(f)/manifest.json)
$(OUT)/figures/fits.stamp: $(FIT_RESULTS) $(PROCESSED) $(REPORT_CODE)
	nice -n 10 $(BURDEN) report --figures-only
	@mkdir -p $(@D) && touch $@

# independent fits and summaries run side by side on every core (JOBS=1: one at a time)
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

# the deaths fit's tables first, in their own make: make -j revisits a target whose
# prerequisites were still running only after a pass over all the others, so with the
# tables built beside the fits the deaths fit (the critical path) waited for certified and
# production to finish: it started at 88 s in d848555's cold profile
# (docs/profiles/d848555.md), at 18 s with every table first. With only its own tables
# first it starts as soon as they exist; the goals of the second make are then taken in
# order (the deaths fit, the other tables, the rest), so the other tables are built beside
# the deaths fit and the other fits then start in the order of RESULTS. With the report's
# goal alone the tables came late and the other fits started out of that order
report:
	@$(MAKE) --no-print-directory -j$(JOBS) $(DEATHS_TABLES)
	@$(MAKE) --no-print-directory -j$(JOBS) $(MODELS)/deaths.nc data $(OUT)/index.html
	@echo "report: $(abspath $(OUT)/index.html)"

# ---- checks ----------------------------------------------------------------------------
# Tests run on every core (pytest-xdist); tests sharing a session fit stay on one worker
# (tests/conftest.py `_xdist_group`), so no model is fitted twice. TEST_WORKERS=0: serial.
TEST_WORKERS ?= auto

# make test: everything but the validation refits (marked `validation`: recovery over
# data sets, three-seed convergence, cold/warm reproducibility, the SBC LocalCluster run),
# which make test-validation runs; CI (.ci/run) runs both, make test-all both in one run
test: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=20 -m "not validation"

test-validation: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=10 -m validation

test-all: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=20

test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check burden tests analysis

benchmark: $(PROCESSED) $(MODELS)/production.nc | $(STAMP)
	$(BURDEN) benchmark deaths production markets composition certified

backtest: $(MODELS)/deaths_backtest.csv

# make clean + make report, cold (empty compile cache) then warm, every step timed
# (reports/profile/profile.md); deletes data/processed, the fits and reports/output first
# make -j as `make report` runs it (JOBS, every core): README's numbers are of
# `burden profile --jobs 2` on 2 cores
PROFILE_JOBS ?= $(JOBS)
profile: | $(STAMP)
	$(BURDEN) profile --jobs $(PROFILE_JOBS)

# make clean: what `make report` rebuilds (processed tables, the fits and their result
# tables, the report). The validation outputs stay: SBC runs (hours; their checkpoints are
# .PRECIOUS) and back-tests, which `make report` does not rebuild; make clean-validation
# deletes those (burden profile sets them aside while it times the report)
REPORT_STEPS := deaths production markets certified composition attribution
VALIDATION_OUTPUTS := $(MODELS)/sbc $(MODELS)/*_backtest* $(MODELS)/deaths_rounds*
# what `make report` rebuilds: its fits by name (not models/*.nc: a back-test's fits
# saved with --save-model, or a user's own, stay)
REBUILT := $(PROC)/*.parquet $(PROC)/*.csv $(REPORT_STEPS:%=$(MODELS)/%.nc) \
           $(REPORT_STEPS:%=$(MODELS)/%) $(OUT)
clean:
	rm -rf $(REBUILT)

clean-validation:
	rm -rf $(VALIDATION_OUTPUTS)

clean-all: clean clean-validation
	rm -rf $(VENV) $(RAW)/*.csv $(RAW)/*.txt
