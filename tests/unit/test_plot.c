/* The SVG chart writer of `tern trace` (tools/plot.c): tick steps, and
 * output that is well-formed XML with the lines, gaps, escaping and
 * thinning the input calls for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/plot.h"

static void assert_close(double got, double want)
{
	if (fabs(got - want) > 1e-9 * fabs(want) + 1e-300)
		fail_msg("got %.17g, want %.17g", got, want);
}

static void test_nice_step(void **state)
{
	(void)state;
	assert_close(plot_nice_step(10, 5), 2);
	assert_close(plot_nice_step(1, 5), 0.2);
	assert_close(plot_nice_step(7.3, 5), 2);
	assert_close(plot_nice_step(100, 10), 10);
	assert_close(plot_nice_step(1000, 1), 1000);
	assert_close(plot_nice_step(0.07, 5), 0.02);
	assert_close(plot_nice_step(1e6, 4), 5e5);
	assert_close(plot_nice_step(3, 3), 1);
	assert_close(plot_nice_step(31, 3), 20);
	assert_close(plot_nice_step(0.001, 10), 0.0001);
	assert_close(plot_nice_step(1e-7, 1), 1e-7);
	/* nothing to divide: 1 */
	assert_close(plot_nice_step(0, 5), 1);
	assert_close(plot_nice_step(-3, 5), 1);
	assert_close(plot_nice_step(NAN, 5), 1);
	assert_close(plot_nice_step(INFINITY, 5), 1);
	assert_close(plot_nice_step(10, 0), 1);
}

/* Over many ranges: the step is 1, 2 or 5 times a power of ten and gives
 * between max/2.5 and max intervals. */
static void test_nice_step_property(void **state)
{
	(void)state;
	srand(7);
	for (int i = 0; i < 20000; i++) {
		double range = pow(10, (rand() / (double)RAND_MAX) * 16 - 8);
		int max = 1 + rand() % 12;
		double st = plot_nice_step(range, max);
		double mag = pow(10, floor(log10(st) + 1e-9));
		double m = st / mag;
		if (!(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9))
			fail_msg("range %g max %d: step %g is not 1, 2 or 5 x 10^k", range, max, st);
		double n = range / st;
		if (n > max * (1 + 1e-9) || n < max / 2.5 * (1 - 1e-9))
			fail_msg("range %g max %d: step %g gives %g intervals", range, max, st, n);
	}
}

static void test_nice_top(void **state)
{
	(void)state;
	double st;
	assert_close(plot_nice_top(7.3, 5, &st), 8);
	assert_close(st, 2);
	assert_close(plot_nice_top(100, 5, &st), 100);
	assert_close(st, 20);
	assert_close(plot_nice_top(101, 5, &st), 150); /* step 50: 20 would need 6 */
	assert_close(plot_nice_top(101, 6, &st), 120);
	assert_close(plot_nice_top(0.034, 5, &st), 0.04);
	assert_close(st, 0.01);
	assert_close(plot_nice_top(0, 5, &st), 1);
	assert_close(plot_nice_top(-4, 5, NULL), 1);
	assert_close(plot_nice_top(NAN, 5, NULL), 1);
	assert_int_equal(plot_step_decimals(2), 0);
	assert_int_equal(plot_step_decimals(1), 0);
	assert_int_equal(plot_step_decimals(1000), 0);
	assert_int_equal(plot_step_decimals(0.5), 1);
	assert_int_equal(plot_step_decimals(0.2), 1);
	assert_int_equal(plot_step_decimals(0.1), 1);
	assert_int_equal(plot_step_decimals(0.05), 2);
	assert_int_equal(plot_step_decimals(0.001), 3);
}

/* ---- checking the output ---- */

static char *render(const struct plot *p, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	assert_non_null(f);
	assert_int_equal(plot_write_svg(p, f), 0);
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

/* A strict little XML checker: one root element, every tag closed in
 * order, attributes quoted, text free of a raw < and of & that does not
 * start one of the five entities. */
static void assert_well_formed(const char *s)
{
	const char *stack[64];
	size_t stack_len[64];
	int depth = 0, roots = 0;
	const char *p = s;
	if (strncmp(p, "<?xml", 5) == 0) {
		p = strstr(p, "?>");
		assert_non_null(p);
		p += 2;
	}
	while (*p) {
		if (*p != '<') {
			if (*p == '&') {
				static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
				bool ok = false;
				for (int i = 0; i < 5; i++)
					ok |= strncmp(p, ents[i], strlen(ents[i])) == 0;
				if (!ok)
					fail_msg("bare & at offset %td", p - s);
			}
			if (*p == '>')
				fail_msg("bare > at offset %td", p - s);
			if (depth == 0 && *p != '\n' && *p != ' ')
				fail_msg("text outside the root at offset %td", p - s);
			p++;
			continue;
		}
		bool closing = p[1] == '/';
		const char *name = p + (closing ? 2 : 1);
		size_t nl = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:");
		if (nl == 0)
			fail_msg("bad tag at offset %td", p - s);
		const char *q = name + nl;
		/* attributes: name="value" */
		bool self = false;
		for (;;) {
			q += strspn(q, " \t\n");
			if (*q == '>') {
				q++;
				break;
			}
			if (q[0] == '/' && q[1] == '>') {
				self = true;
				q += 2;
				break;
			}
			if (closing)
				fail_msg("junk in a closing tag at offset %td", q - s);
			size_t an = strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:");
			if (an == 0 || q[an] != '=' || q[an + 1] != '"')
				fail_msg("bad attribute at offset %td: %.20s", q - s, q);
			const char *v = q + an + 2, *end = strchr(v, '"');
			assert_non_null(end);
			for (const char *c = v; c < end; c++)
				if (*c == '<')
					fail_msg("< in an attribute at offset %td", c - s);
			q = end + 1;
		}
		if (closing) {
			if (depth == 0 || stack_len[depth - 1] != nl || strncmp(stack[depth - 1], name, nl) != 0)
				fail_msg("</%.*s> does not close the open element (offset %td)", (int)nl, name, p - s);
			depth--;
		} else if (!self) {
			if (depth == 0)
				roots++;
			assert_true(depth < 64);
			stack[depth] = name;
			stack_len[depth] = nl;
			depth++;
		} else if (depth == 0) {
			roots++;
		}
		p = q;
	}
	assert_int_equal(depth, 0);
	assert_int_equal(roots, 1);
}

static int count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* The points of every polyline: their number, and their lowest pixel y. */
static int polyline_points(const char *s, double *min_py)
{
	int n = 0;
	*min_py = INFINITY;
	for (const char *p = s; (p = strstr(p, "<polyline")); p++) {
		const char *a = strstr(p, " points=\"");
		assert_non_null(a);
		a += 9;
		const char *end = strchr(a, '"');
		while (a < end) {
			double x, y;
			int used;
			assert_int_equal(sscanf(a, "%lf,%lf%n", &x, &y, &used), 2);
			n++;
			if (y < *min_py)
				*min_py = y;
			a += used;
			a += strspn(a, " ");
		}
	}
	return n;
}

static void test_svg_lines_and_gaps(void **state)
{
	(void)state;
	struct plot *p = plot_new("Test chart");
	assert_non_null(p);
	assert_int_equal(plot_set_subtitle(p, "subtitle"), 0);
	assert_int_equal(plot_set_xlabel(p, "time (s)"), 0);
	struct plot_panel *a = plot_add_panel(p, "(a) window", "KB");
	struct plot_panel *b = plot_add_panel(p, "(b) rtt", "ms");
	struct plot_series *s1 = plot_add_series(a, "cwnd", "#1f77b4", PLOT_SOLID);
	struct plot_series *s2 = plot_add_series(a, "ssthresh", "#d62728", PLOT_DASHED);
	struct plot_series *s3 = plot_add_series(b, "srtt", "#2ca02c", PLOT_DOTTED);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_non_null(s3);
	for (int i = 0; i < 10; i++)
		assert_int_equal(plot_point(s1, i * 0.1, i * i), 0);
	/* 3 points, a gap (NAN), 4 points, an infinity (a gap too), 1 point */
	double ys[] = {5, 6, 7, NAN, 8, 9, 10, 11, INFINITY, 12};
	for (int i = 0; i < 10; i++)
		plot_point(s2, i * 0.1, ys[i]);
	plot_point(s3, 0, 20);
	plot_point(s3, 0.5, 40);
	struct plot_spans *sp = plot_add_spans(p, "recovery", "#ff7f0e");
	plot_span(sp, 0.2, 0.3);
	plot_span(sp, 0.6, 0.65);
	plot_span(sp, 5, 6); /* beyond the x axis: not drawn */
	struct plot_marks *mk = plot_add_marks(p, "retransmission", "#000");
	plot_mark(mk, 0.25);
	plot_mark(mk, 0.61);
	size_t len;
	char *svg = render(p, &len);
	assert_well_formed(svg);
	assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	/* polylines: 1 (cwnd) + 3 (ssthresh, split twice) + 1 (srtt) */
	assert_int_equal(count(svg, "<polyline"), 5);
	double min_py;
	assert_int_equal(polyline_points(svg, &min_py), 10 + 8 + 2);
	assert_int_equal(count(svg, "stroke-dasharray=\"7,4\""), 3 + 1); /* ssthresh runs + its legend line */
	/* the two spans in range, in both panels */
	assert_int_equal(count(svg, "fill-opacity=\"0.18\""), 2 * 2);
	/* the marks: one path per panel, two ticks each */
	assert_int_equal(count(svg, "v-8"), 2 * 2);
	/* legends and titles */
	assert_non_null(strstr(svg, ">cwnd</text>"));
	assert_non_null(strstr(svg, ">ssthresh</text>"));
	assert_non_null(strstr(svg, ">recovery</text>"));
	assert_non_null(strstr(svg, ">retransmission</text>"));
	assert_non_null(strstr(svg, ">(b) rtt</text>"));
	assert_non_null(strstr(svg, ">time (s)</text>"));
	/* y axis of panel a: 0..90 -> nice top 100, labels 0, 20, ... 100 */
	assert_non_null(strstr(svg, ">100</text>"));
	assert_non_null(strstr(svg, ">80</text>"));
	/* x axis: 0..0.9 by 0.1 */
	assert_non_null(strstr(svg, ">0.0</text>"));
	assert_non_null(strstr(svg, ">0.5</text>"));
	assert_non_null(strstr(svg, ">0.9</text>"));
	assert_null(strstr(svg, ">1.0</text>"));
	free(svg);
	plot_free(p);
}

static void test_svg_escaping(void **state)
{
	(void)state;
	struct plot *p = plot_new("a<b & \"c\" 'd'>");
	plot_set_subtitle(p, "x&y\x01z");
	struct plot_panel *a = plot_add_panel(p, "<panel>", "&");
	struct plot_series *s = plot_add_series(a, "</polyline>", "#123456", PLOT_SOLID);
	plot_point(s, 0, 1);
	plot_point(s, 1, 2);
	char *svg = render(p, NULL);
	assert_well_formed(svg);
	assert_non_null(strstr(svg, "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"));
	assert_non_null(strstr(svg, "x&amp;y z"));
	assert_non_null(strstr(svg, "&lt;panel&gt;"));
	assert_non_null(strstr(svg, "&lt;/polyline&gt;"));
	assert_null(strstr(svg, "a<b"));
	assert_int_equal(count(svg, "<polyline"), 1);
	free(svg);
	plot_free(p);
}

static void test_svg_empty(void **state)
{
	(void)state;
	struct plot *p = plot_new("");
	char *svg = render(p, NULL);
	assert_well_formed(svg);
	free(svg);
	struct plot_panel *a = plot_add_panel(p, "empty", "");
	plot_add_series(a, "nothing", "red", PLOT_SOLID);
	struct plot_series *s = plot_add_series(a, "", "blue", PLOT_SOLID);
	plot_point(s, NAN, 1);
	plot_point(s, 1, NAN);
	plot_add_spans(p, "", "gray");
	plot_add_marks(p, "none", "black");
	svg = render(p, NULL);
	assert_well_formed(svg);
	assert_int_equal(count(svg, "<polyline"), 0);
	free(svg);
	plot_free(p);
}

/* 200,000 points are thinned to at most four per pixel column, and the
 * one spike among them is still drawn at the top of the axis. */
static void test_svg_thinning(void **state)
{
	(void)state;
	struct plot *p = plot_new("many");
	struct plot_panel *a = plot_add_panel(p, "noise", "");
	struct plot_series *s = plot_add_series(a, "y", "#000", PLOT_SOLID);
	const int n = 200000;
	for (int i = 0; i < n; i++)
		plot_point(s, i * 1e-4, i == 123457 ? 1000 : 0.5 + 0.4 * sin(i * 0.37));
	size_t len;
	char *svg = render(p, &len);
	assert_well_formed(svg);
	double min_py;
	int pts = polyline_points(svg, &min_py);
	assert_true(pts <= 4 * p->width);
	assert_true(pts >= p->width); /* one column at least per pixel */
	/* the plotting area's top edge is where y = 1000 (the axis top) goes */
	const char *bg = strstr(svg, "fill=\"#fcfcfc\"");
	assert_non_null(bg);
	const char *r = bg;
	while (r > svg && strncmp(r, "<rect", 5) != 0)
		r--;
	double top;
	assert_int_equal(sscanf(strstr(r, " y=\"") + 4, "%lf", &top), 1);
	assert_close(min_py, top);
	assert_true(len < 200000);
	free(svg);
	plot_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nice_step),
		cmocka_unit_test(test_nice_step_property),
		cmocka_unit_test(test_nice_top),
		cmocka_unit_test(test_svg_lines_and_gaps),
		cmocka_unit_test(test_svg_escaping),
		cmocka_unit_test(test_svg_empty),
		cmocka_unit_test(test_svg_thinning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
