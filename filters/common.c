/* common.c: messages, option parsing, progress lines and the closing summary. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include "common.h"

const char *fl_prog = "gulm";
int fl_quiet;
static char cmdline[4096];
static double t_start, last_progress;
static int progress_live, progress_open;

void fl_init(const char *prog, int argc, char **argv)
{
	fl_prog = prog;
	size_t n = 0;
	for (int i = 0; i < argc && n + 2 < sizeof cmdline; i++)
		n += (size_t)snprintf(cmdline + n, sizeof cmdline - n, "%s%s", i ? " " : "", argv[i]);
	t_start = last_progress = gu_realtime();
	opterr = 0; /* fl_bad_option says it in our format */
	progress_live = isatty(2);
}

const char *fl_cmdline(void) { return cmdline; }

static volatile sig_atomic_t got_signal;
static void on_signal(int sig)
{
	got_signal = sig;
	signal(sig, SIG_DFL); /* a second signal kills */
}

void fl_catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int fl_signalled(void) { return got_signal != 0; }

static void vmsg(const char *fmt, va_list ap)
{
	fl_progress_end();
	fprintf(stderr, "%s: ", fl_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void (*on_die)(void);
void fl_on_die(void (*fn)(void)) { on_die = fn; }

void fl_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	if (on_die) {
		void (*fn)(void) = on_die;
		on_die = NULL;
		fn();
	}
	exit(EXIT_RUNTIME);
}

void fl_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", fl_prog);
	exit(EXIT_USAGE);
}

void fl_info(const char *fmt, ...)
{
	if (fl_quiet) return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void fl_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fl_progress_end();
	fprintf(stderr, "%s: warning: ", fl_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void fl_bad_option(char **argv)
{
	if (optopt) fl_usage_error("invalid option or missing argument -- '%c'", optopt);
	fl_usage_error("unrecognized option or missing argument '%s'", argv[optind - 1]);
}

long fl_parse_long(const char *s, const char *opt, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		fl_usage_error("%s: '%s' is not an integer in %ld..%ld", opt, s, lo, hi);
	return v;
}

int fl_parse_choice(const char *s, const char *opt, const char *const *names)
{
	char list[256] = "";
	int n = 0;
	while (names[n] && strcmp(s, names[n]) != 0) n++;
	if (names[n]) return n;
	for (int i = 0; names[i]; i++) {
		size_t len = strlen(list);
		snprintf(list + len, sizeof list - len, "%s%s", i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
	}
	fl_usage_error("%s: '%s' is not %s", opt, s, list);
}

long fl_parse_size(const char *s, const char *opt, long lo, long hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end != s && *end) {
		double mult = *end == 'k' || *end == 'K' ? 1e3 : *end == 'm' || *end == 'M' ? 1e6 : *end == 'g' || *end == 'G' ? 1e9 : 0;
		if (mult == 0 || end[1]) v = NAN;
		v *= mult;
	}
	if (errno || end == s || !(v >= (double)lo && v <= (double)hi) || v != floor(v))
		fl_usage_error("%s: '%s' is not a size in %ld..%ld", opt, s, lo, hi);
	return (long)v;
}

double fl_parse_double(const char *s, const char *opt, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		fl_usage_error("%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
	return v;
}

double fl_parse_duration(const char *s, const char *opt)
{
	double total = 0;
	const char *p = s;
	if (!*p) goto bad;
	while (*p) {
		/* a digit or a point first: strtod alone would also take "inf", "nan", signs, blanks */
		if (!((*p >= '0' && *p <= '9') || *p == '.')) goto bad;
		char *end;
		errno = 0;
		double v = strtod(p, &end), mult = 1;
		if (end == p || errno) goto bad; /* ERANGE: too large to be finite */
		if (*end == 's') end++;
		else if (*end == 'm') mult = 60, end++;
		else if (*end == 'h') mult = 3600, end++;
		else if (*end == 'd') mult = 86400, end++;
		else if (*end) goto bad;
		total += v * mult;
		p = end;
	}
	if (total > 0 && isfinite(total)) return total;
bad:
	fl_usage_error("%s: '%s' is not a duration (e.g. 90, 90s, 45m, 1.5h, 1h30m)", opt, s);
}

void fl_progress(const char *fmt, ...)
{
	if (fl_quiet) return;
	double now = gu_realtime();
	if (now - last_progress < (progress_live ? 0.25 : 10.0)) return;
	last_progress = now;
	va_list ap;
	va_start(ap, fmt);
	if (progress_live) fputs("\r\033[K", stderr);
	fprintf(stderr, "%s: [%.1fs] ", fl_prog, now - t_start);
	vfprintf(stderr, fmt, ap);
	if (!progress_live) fputc('\n', stderr);
	progress_open = progress_live;
	va_end(ap);
}

void fl_progress_end(void)
{
	if (progress_open) fputs("\r\033[K", stderr);
	progress_open = 0;
}

void fl_summary(void)
{
	if (fl_quiet) return;
	fl_progress_end();
	double real = gu_realtime() - t_start, cpu = gu_cputime();
	fprintf(stderr, "%s: version %s; command: %s\n", fl_prog, GU_VERSION, cmdline);
	fprintf(stderr, "%s: real time %.2f s; CPU %.2f s (%.2fx); peak RSS %.3f GB\n", fl_prog, real, cpu,
		real > 0 ? cpu / real : 0.0, gu_peak_rss_kb() / 1048576.0);
}

void fl_close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) fl_die("error writing to standard output: %s", strerror(errno));
}
