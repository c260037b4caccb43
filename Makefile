# Genomic ULMFiT in C.  make [asan=1] | make check | make demo | make install prefix=DIR
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN      = -std=c11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CPPFLAGS += -D_GNU_SOURCE -Ilib
PKGS      = htslib libzstd openblas jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS   += $(PKG_LIBS) -lz -lm -lpthread
# OpenMPI for data-parallel training (filters/par.c); without it the programs are single-rank
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
ifneq ($(MPI_LIBS),)
MPI_CFLAGS += -DGU_MPI
LDLIBS     += $(MPI_LIBS)
endif
prefix   ?= /usr/local
bindir    = $(prefix)/bin
mandir    = $(prefix)/share/man

ifeq ($(asan),1)
CFLAGS   += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

LIB_SRC    = $(sort $(wildcard lib/*.c))
LIB_OBJ    = $(LIB_SRC:.c=.o)
# filters/*.c are programs, except these modules they share
SHARED_SRC = $(wildcard filters/common.c filters/lmfit.c filters/trainer.c filters/clsdata.c filters/metricsio.c filters/seqfile.c filters/par.c filters/lmteam.c filters/clsteam.c filters/pool.c)
COMMON_OBJ = $(SHARED_SRC:.c=.o)
# kept, though only pattern rules name them (make would delete them as intermediates)
.SECONDARY: $(COMMON_OBJ)
PROGS      = $(patsubst filters/%.c,bin/%,$(filter-out $(SHARED_SRC),$(sort $(wildcard filters/*.c))))
UNIT_SRC   = $(sort $(wildcard tests/unit/test_*.c))
UNITS      = $(UNIT_SRC:.c=)
# baselines/NAME.c: classical comparison programs, built to bin/NAME
BASELINES  = $(patsubst baselines/%.c,bin/%,$(sort $(wildcard baselines/*.c)))
BENCH_SRC  = $(sort $(wildcard bench/*.c))
BENCHES    = $(BENCH_SRC:.c=)
HDRS       = lib/gulm.h $(wildcard lib/*_priv.h) $(wildcard filters/*.h)

.PHONY: all check unit cli pipeline-test demo install clean deps bench fuzz
.DELETE_ON_ERROR:

all: $(PROGS) $(BASELINES) $(UNITS) $(BENCHES)

deps:
	@sh scripts/install-deps.sh

lib/%.o filters/%.o: CFLAGS += $(WARN) $(PKG_CFLAGS)
lib/%.o: lib/%.c $(HDRS)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
filters/par.o: CFLAGS += $(MPI_CFLAGS)
filters/%.o: filters/%.c $(HDRS)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

lib/libgulm.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

bin/%: filters/%.o $(COMMON_OBJ) lib/libgulm.a
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $< $(COMMON_OBJ) lib/libgulm.a $(LDLIBS)

tests/unit/%: tests/unit/%.c tests/unit/testutil.h lib/libgulm.a $(HDRS)
	$(CC) $(CPPFLAGS) $(WARN) $(PKG_CFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< lib/libgulm.a $(LDLIBS)

# baselines and bench programs share the filters' modules (messages, option parsing, FASTA reading)
$(BASELINES): bin/%: baselines/%.c $(COMMON_OBJ) lib/libgulm.a $(HDRS)
	@mkdir -p bin
	$(CC) $(CPPFLAGS) $(WARN) $(PKG_CFLAGS) $(CFLAGS) -Ifilters $(LDFLAGS) -o $@ $< $(COMMON_OBJ) lib/libgulm.a $(LDLIBS)
bench/%: bench/%.c $(COMMON_OBJ) lib/libgulm.a $(HDRS)
	$(CC) $(CPPFLAGS) $(WARN) $(PKG_CFLAGS) $(CFLAGS) -Ifilters $(LDFLAGS) -o $@ $< $(COMMON_OBJ) lib/libgulm.a $(LDLIBS)

check: deps
	$(MAKE) all
	sh tests/run-unit.sh $(UNITS)
	sh tests/cli/run.sh
	sh tests/tokenise.sh
	sh tests/pipeline.sh
	sh tests/lm_ecoli.sh
	sh tests/lm_parity.sh
	sh tests/mpi.sh
	sh tests/cls_ecoli.sh
	sh tests/resume.sh
	sh tests/scan.sh
	sh tests/pipeline_demo.sh
	sh tests/pipeline_human.sh
	sh tests/gue.sh

unit: all
	sh tests/run-unit.sh $(UNITS)

cli: all
	sh tests/cli/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory -C pipelines -j2 demo

bench: all
	sh bench/run.sh

# libFuzzer builds of the binary readers (clang); see tests/fuzz/README
fuzz:
	$(MAKE) -C tests/fuzz

install: all
	mkdir -p $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5
	cp $(PROGS) $(BASELINES) $(DESTDIR)$(bindir)/
	cp man/*.1 $(DESTDIR)$(mandir)/man1/
	cp man/*.5 $(DESTDIR)$(mandir)/man5/

clean:
	rm -f lib/*.o lib/libgulm.a filters/*.o $(UNITS) $(BENCHES)
	rm -rf bin tests/tmp
	$(MAKE) -C tests/fuzz clean 2>/dev/null || true
