# common.mk: what every experiment's .mk shares: paths, budgets, data checksums, resume, and
# the line that tells the user which step runs.
#
# Outputs go to $(OUT)/<experiment>/ (ignored by git). Every training step has a wall-clock
# budget (passed to --time) and checkpoints; re-running make after an interruption resumes the
# step from its checkpoint when its inputs hold the same bytes as when it started (./resumable;
# a changed input means a fresh start). A data folder re-dated with the same bytes (a fresh
# mount) rebuilds nothing (./madefrom, from_data below).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:

TOP  := $(abspath ..)
DATA ?= $(abspath $(TOP)/../shared/data)
BIN  ?= $(TOP)/bin
OUT  ?= out
SEED ?= 1
# options every program gets: -q silences their progress lines
Q    ?=

# What runs: one line a step, `[experiment] program: what it does (budget)`, then the program's
# own progress; make's recipes only with V=1. $(call step,EXPERIMENT,PROGRAM,WHAT)
V    ?=
AT   := $(if $(filter 1,$(V)),,@)
step_text = [$(1)] $(2): $(3)
step = @printf '%s\n' '$(call step_text,$(1),$(2),$(3))'
comma := ,

# A training step's arguments: --resume $(1).ckpt when make was interrupted in the middle of
# the step and the checkpoint started from these same inputs $(3) (./resumable compares their
# checksums), else the fresh-start arguments $(2). A checkpoint whose inputs changed is removed.
resume_or = $$(if $(TOP)/pipelines/resumable $(1).ckpt $(3); then echo '--resume $(1).ckpt'; else echo '$(2)'; fi)

# A step that reads $(DATA): run COMMAND $(1), which makes $@ from $^, only when $@ was not made
# from the same bytes already (./madefrom compares checksums), printing the step's line $(2)
# (step_text) first. The data folder may be re-dated without changing, as when a new session
# mounts it; $@ then keeps its date, nothing is printed, and make rebuilds nothing downstream (a
# finished LM is not retrained because its genome was re-dated).
from_data = if ! $(TOP)/pipelines/madefrom $@ $^; then printf '%s\n' '$(2)'; $(1); $(TOP)/pipelines/madefrom --record $@ $^; fi

# Warm restarts of an LM: the numbers 1 .. $(1) of $(1) restarts; the suffix of restart $(1)'s
# model name (lm.X.r$(1).model; none for 0, the first cycle); the restart before it
restart_numbers = $(wordlist 1,$(1),1 2 3 4 5 6 7 8 9)
restart_suffix = $(if $(filter-out 0,$(1)),.r$(1))
restart_before = $(word $(1),0 1 2 3 4 5 6 7 8)

# An LM step's budget: the wall time $(1), passed to --time, for which lmtrain/lmtune plan their
# one-cycle schedule. LM_EPOCHS=N replaces every such budget by exactly N epochs, the same steps
# however loaded the machine is (the tests' tiny runs). budget_words: the budget as the settings
# lines state it.
LM_EPOCHS ?=
lm_budget = $(if $(LM_EPOCHS),--epochs $(LM_EPOCHS),--epochs 1000 --time $(1))
budget_words = $(if $(LM_EPOCHS),$(LM_EPOCHS) epoch(s),$(1))
