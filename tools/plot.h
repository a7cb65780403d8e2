/* A small SVG line-chart writer (for `tern trace`): panels stacked on one
 * shared x axis, each with series of (x, y) points, y axes from 0 with
 * "nice" tick steps, a legend per panel; shaded spans and tick marks that
 * run through every panel.  The output is one self-contained SVG file.
 *
 * A y of NAN is a gap: the line stops there and starts again after it.  A
 * series with more points than four per pixel column is thinned to the
 * first, lowest, highest and last point of each column, so spikes survive
 * and the file stays small. */
#ifndef TERN_PLOT_H
#define TERN_PLOT_H

#include <stddef.h>
#include <stdio.h>

enum plot_dash { PLOT_SOLID = 0, PLOT_DASHED, PLOT_DOTTED };

struct plot_series {
	char *label, *color;
	enum plot_dash dash;
	double *x, *y;
	size_t n, cap;
};

struct plot_panel {
	char *title;   /* above the panel */
	char *ylabel;  /* along the y axis */
	struct plot_series **series;
	size_t nseries;
};

/* Shaded x ranges, drawn behind the lines of every panel. */
struct plot_spans {
	char *label, *color;
	double *x0, *x1;
	size_t n, cap;
};

/* Events: short ticks rising from the bottom edge of every panel. */
struct plot_marks {
	char *label, *color;
	double *x;
	size_t n, cap;
};

struct plot {
	char *title, *subtitle, *xlabel;
	int width;          /* of the whole image, px (default 1000) */
	int panel_height;   /* of one panel's plotting area, px (default 190) */
	double xmin, xmax;  /* NAN (the default): from the data, xmin 0 */
	struct plot_panel **panels;
	size_t npanels;
	struct plot_spans **spans;
	size_t nspans;
	struct plot_marks **marks;
	size_t nmarks;
};

/* Constructors return NULL only when memory runs out; the plot owns
 * everything and copies the strings. */
struct plot *plot_new(const char *title);
void plot_free(struct plot *p);
int plot_set_subtitle(struct plot *p, const char *subtitle);
int plot_set_xlabel(struct plot *p, const char *xlabel);
struct plot_panel *plot_add_panel(struct plot *p, const char *title, const char *ylabel);
struct plot_series *plot_add_series(struct plot_panel *pn, const char *label, const char *color,
				    enum plot_dash dash);
int plot_point(struct plot_series *s, double x, double y); /* 0 or -1 */
struct plot_spans *plot_add_spans(struct plot *p, const char *label, const char *color);
int plot_span(struct plot_spans *s, double x0, double x1);
struct plot_marks *plot_add_marks(struct plot *p, const char *label, const char *color);
int plot_mark(struct plot_marks *m, double x);

/* Write the SVG document; 0, or -1 if the stream reported an error. */
int plot_write_svg(const struct plot *p, FILE *f);

/* ---- the pieces, exposed for tests ---- */
/* The tick step for [0, range] with at most max_ticks intervals: 1, 2 or 5
 * times a power of ten (1 for an empty or invalid range). */
double plot_nice_step(double range, int max_ticks);
/* The axis top for data reaching vmax: vmax rounded up to a whole step
 * (step from plot_nice_step(vmax, max_ticks)); 1 when vmax <= 0. */
double plot_nice_top(double vmax, int max_ticks, double *step);
/* Digits after the point that labels of multiples of step need. */
int plot_step_decimals(double step);
/* Text with &, <, >, " and ' as XML entities. */
void plot_fput_xml(FILE *f, const char *s);

#endif
