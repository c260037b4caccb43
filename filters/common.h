/* common.h: what every filter shares: messages, exit codes, option parsing, progress lines.
 * Filters own all printing: data to stdout, everything for people to stderr. */
#ifndef GU_COMMON_H
#define GU_COMMON_H
#include <stdarg.h>

#include "gulm.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_STOPPED = 3 };

extern const char *fl_prog; /* program name for messages */
extern int fl_quiet;        /* -q: no progress or summary lines */

/* Records the program name and command line (for the summary and model provenance). */
void fl_init(const char *prog, int argc, char **argv);
const char *fl_cmdline(void);

/* "prog: message" on stderr, then exit(1) / exit(2) (usage errors add a --help hint). */
void fl_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void fl_usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* fn runs in fl_die before exiting (e.g. to discard a half-written output). */
void fl_on_die(void (*fn)(void));
/* "prog: message" on stderr unless -q. */
void fl_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports getopt's '?' as a usage error (call with opterr = 0). */
void fl_bad_option(char **argv) __attribute__((noreturn));
/* Strict number parsing for option arguments; a bad value is a usage error naming opt. */
long fl_parse_long(const char *s, const char *opt, long lo, long hi);
double fl_parse_double(const char *s, const char *opt, double lo, double hi);
/* One of the NULL-terminated names: its index; another word is a usage error listing them. */
int fl_parse_choice(const char *s, const char *opt, const char *const *names);
/* Sizes with an optional k/M/G suffix (powers of 1000). */
long fl_parse_size(const char *s, const char *opt, long lo, long hi);
/* A duration in seconds, > 0: one or more NUMBER[UNIT] parts added up, UNIT s (or none), m, h
 * or d: "90", "90s", "45m", "1.5h", "1h30m". */
double fl_parse_duration(const char *s, const char *opt);

/* Progress: on a terminal a live line rewritten in place, otherwise one line every
 * `interval` seconds (default 10). fl_progress is cheap to call often. */
void fl_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_progress_end(void);

/* The closing summary (minimap2 style): version, command line, real and CPU time, peak RSS. */
void fl_summary(void);

/* SIGINT/SIGTERM set a flag instead of killing (a second one kills): long training loops
 * poll fl_signalled() and stop cleanly with a checkpoint, exit status EXIT_STOPPED. */
void fl_catch_signals(void);
int fl_signalled(void);

/* Flushes and checks stdout; a full disk or closed pipe is a runtime error. */
void fl_close_stdout(void);
#endif
