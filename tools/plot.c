/* A small SVG line-chart writer: see plot.h. */
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Layout, in px. */
#define MARGIN_LEFT 78
#define MARGIN_RIGHT 24
#define TITLE_Y 26
#define ROW 17            /* a legend row */
#define PANEL_GAP 30      /* from one panel's x labels to the next panel's title */
#define CHAR_W 6.8        /* a guess at a character's width in the 12 px font */
#define Y_TICKS 6
#define X_TICKS 10

/* ---- building ---- */

static char *sdup(const char *s) { return strdup(s ? s : ""); }

/* Grow *arr (elements of size sz) to hold one more than *n; 0 or -1. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *a = realloc(*arr, c * sz);
	if (!a)
		return -1;
	*arr = a;
	*cap = c;
	return 0;
}

/* Append a pointer to a plain array of pointers (capacity = count rounded
 * up to a power of two). */
static int push_ptr(void ***arr, size_t *n, void *item)
{
	if (!item)
		return -1;
	if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: full */
		void **a = realloc(*arr, sizeof(void *) * (*n ? *n * 2 : 1));
		if (!a)
			return -1;
		*arr = a;
	}
	(*arr)[(*n)++] = item;
	return 0;
}

struct plot *plot_new(const char *title)
{
	struct plot *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->title = sdup(title);
	p->subtitle = sdup("");
	p->xlabel = sdup("");
	p->width = 1000;
	p->panel_height = 190;
	p->xmin = p->xmax = NAN;
	if (!p->title || !p->subtitle || !p->xlabel) {
		plot_free(p);
		return NULL;
	}
	return p;
}

static void series_free(struct plot_series *s)
{
	free(s->label);
	free(s->color);
	free(s->x);
	free(s->y);
	free(s);
}

void plot_free(struct plot *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->npanels; i++) {
		struct plot_panel *pn = p->panels[i];
		for (size_t j = 0; j < pn->nseries; j++)
			series_free(pn->series[j]);
		free(pn->series);
		free(pn->title);
		free(pn->ylabel);
		free(pn);
	}
	for (size_t i = 0; i < p->nspans; i++) {
		free(p->spans[i]->label);
		free(p->spans[i]->color);
		free(p->spans[i]->x0);
		free(p->spans[i]->x1);
		free(p->spans[i]);
	}
	for (size_t i = 0; i < p->nmarks; i++) {
		free(p->marks[i]->label);
		free(p->marks[i]->color);
		free(p->marks[i]->x);
		free(p->marks[i]);
	}
	free(p->panels);
	free(p->spans);
	free(p->marks);
	free(p->title);
	free(p->subtitle);
	free(p->xlabel);
	free(p);
}

static int set_str(char **dst, const char *s)
{
	char *c = sdup(s);
	if (!c)
		return -1;
	free(*dst);
	*dst = c;
	return 0;
}

int plot_set_subtitle(struct plot *p, const char *subtitle) { return set_str(&p->subtitle, subtitle); }
int plot_set_xlabel(struct plot *p, const char *xlabel) { return set_str(&p->xlabel, xlabel); }

struct plot_panel *plot_add_panel(struct plot *p, const char *title, const char *ylabel)
{
	struct plot_panel *pn = calloc(1, sizeof(*pn));
	if (!pn)
		return NULL;
	pn->title = sdup(title);
	pn->ylabel = sdup(ylabel);
	if (!pn->title || !pn->ylabel || push_ptr((void ***)&p->panels, &p->npanels, pn) < 0) {
		free(pn->title);
		free(pn->ylabel);
		free(pn);
		return NULL;
	}
	return pn;
}

struct plot_series *plot_add_series(struct plot_panel *pn, const char *label, const char *color,
				    enum plot_dash dash)
{
	struct plot_series *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->label = sdup(label);
	s->color = sdup(color);
	s->dash = dash;
	if (!s->label || !s->color || push_ptr((void ***)&pn->series, &pn->nseries, s) < 0) {
		series_free(s);
		return NULL;
	}
	return s;
}

int plot_point(struct plot_series *s, double x, double y)
{
	size_t cap = s->cap;
	if (grow((void **)&s->x, &cap, s->n, sizeof(double)) < 0)
		return -1;
	cap = s->cap;
	if (grow((void **)&s->y, &cap, s->n, sizeof(double)) < 0)
		return -1;
	s->cap = cap;
	s->x[s->n] = x;
	s->y[s->n] = y;
	s->n++;
	return 0;
}

struct plot_spans *plot_add_spans(struct plot *p, const char *label, const char *color)
{
	struct plot_spans *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->label = sdup(label);
	s->color = sdup(color);
	if (!s->label || !s->color || push_ptr((void ***)&p->spans, &p->nspans, s) < 0) {
		free(s->label);
		free(s->color);
		free(s);
		return NULL;
	}
	return s;
}

int plot_span(struct plot_spans *s, double x0, double x1)
{
	size_t cap = s->cap;
	if (grow((void **)&s->x0, &cap, s->n, sizeof(double)) < 0)
		return -1;
	cap = s->cap;
	if (grow((void **)&s->x1, &cap, s->n, sizeof(double)) < 0)
		return -1;
	s->cap = cap;
	s->x0[s->n] = x0;
	s->x1[s->n] = x1;
	s->n++;
	return 0;
}

struct plot_marks *plot_add_marks(struct plot *p, const char *label, const char *color)
{
	struct plot_marks *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->label = sdup(label);
	m->color = sdup(color);
	if (!m->label || !m->color || push_ptr((void ***)&p->marks, &p->nmarks, m) < 0) {
		free(m->label);
		free(m->color);
		free(m);
		return NULL;
	}
	return m;
}

int plot_mark(struct plot_marks *m, double x)
{
	if (grow((void **)&m->x, &m->cap, m->n, sizeof(double)) < 0)
		return -1;
	m->x[m->n++] = x;
	return 0;
}

/* ---- axes ---- */

double plot_nice_step(double range, int max_ticks)
{
	if (!(range > 0) || !isfinite(range) || max_ticks < 1)
		return 1;
	double raw = range / max_ticks;
	double mag = pow(10, floor(log10(raw)));
	double norm = raw / mag;
	/* log10 of a power of ten may land a hair low or high */
	if (norm < 1 - 1e-9) {
		mag /= 10;
		norm *= 10;
	} else if (norm > 10 - 1e-9) {
		mag *= 10;
		norm /= 10;
	}
	double m = norm <= 1 + 1e-9 ? 1 : norm <= 2 + 1e-9 ? 2 : norm <= 5 + 1e-9 ? 5 : 10;
	return m * mag;
}

double plot_nice_top(double vmax, int max_ticks, double *step)
{
	if (!(vmax > 0) || !isfinite(vmax))
		vmax = 1;
	double st = plot_nice_step(vmax, max_ticks);
	double top = ceil(vmax / st - 1e-9) * st;
	if (step)
		*step = st;
	return top;
}

int plot_step_decimals(double step)
{
	if (!(step > 0) || step >= 1 - 1e-9)
		return 0;
	int d = (int)ceil(-log10(step) - 1e-9);
	return d > 9 ? 9 : d;
}

/* ---- writing ---- */

void plot_fput_xml(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			/* control characters are not allowed in XML 1.0 */
			fputc((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' ? ' ' : *s, f);
		}
	}
}

static const char *dasharray(enum plot_dash d)
{
	return d == PLOT_DASHED ? " stroke-dasharray=\"7,4\"" : d == PLOT_DOTTED ? " stroke-dasharray=\"2,3\"" : "";
}

struct frame {
	double xlo, xhi, xstep;
	int left, width;  /* plotting area, px */
};

static double px_x(const struct frame *fr, double x)
{
	return fr->left + (x - fr->xlo) / (fr->xhi - fr->xlo) * fr->width;
}

/* Legend entries of a panel (series) or of the plot (spans, marks), laid
 * out left to right from x0 and wrapped at x1.  With f NULL, only counts
 * the rows. */
struct legend_item {
	const char *label, *color;
	int kind; /* 0 line, 1 span swatch, 2 mark */
	enum plot_dash dash;
};

static int legend(FILE *f, const struct legend_item *it, size_t n, double x0, double x1, double y)
{
	if (!n)
		return 0;
	int rows = 1;
	double x = x0;
	for (size_t i = 0; i < n; i++) {
		double w = 30 + CHAR_W * (double)strlen(it[i].label) + 14;
		if (x + w > x1 && x > x0) {
			rows++;
			x = x0;
			y += ROW;
		}
		if (f) {
			if (it[i].kind == 0)
				fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
					x, y - 4, x + 24, y - 4, it[i].color, dasharray(it[i].dash));
			else if (it[i].kind == 1)
				fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"24\" height=\"11\" fill=\"%s\" fill-opacity=\"0.25\"/>\n",
					x, y - 10, it[i].color);
			else
				fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\"/>\n",
					x + 12, y + 1, x + 12, y - 10, it[i].color);
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 30, y);
			plot_fput_xml(f, it[i].label);
			fputs("</text>\n", f);
		}
		x += w;
	}
	return rows;
}

static size_t panel_legend_items(const struct plot_panel *pn, struct legend_item *it)
{
	size_t n = 0;
	for (size_t i = 0; i < pn->nseries; i++)
		if (pn->series[i]->label[0])
			it[n++] = (struct legend_item){pn->series[i]->label, pn->series[i]->color, 0, pn->series[i]->dash};
	return n;
}

static size_t plot_legend_items(const struct plot *p, struct legend_item *it)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nspans; i++)
		if (p->spans[i]->label[0])
			it[n++] = (struct legend_item){p->spans[i]->label, p->spans[i]->color, 1, PLOT_SOLID};
	for (size_t i = 0; i < p->nmarks; i++)
		if (p->marks[i]->label[0])
			it[n++] = (struct legend_item){p->marks[i]->label, p->marks[i]->color, 2, PLOT_SOLID};
	return n;
}

static double title_width(const char *s) { return 8.0 * (double)strlen(s); }

/* Keep index i if it is the first, lowest, highest or last point of its
 * pixel column: b[] holds the column's candidates. */
static void flush_column(FILE *f, const double *px, const double *py, size_t *b, int nb, size_t *written)
{
	/* sort the (at most four) indexes and drop repeats */
	for (int i = 1; i < nb; i++)
		for (int j = i; j > 0 && b[j - 1] > b[j]; j--) {
			size_t t = b[j];
			b[j] = b[j - 1];
			b[j - 1] = t;
		}
	for (int i = 0; i < nb; i++) {
		if (i > 0 && b[i] == b[i - 1])
			continue;
		fprintf(f, "%s%.1f,%.1f", *written ? " " : "", px[b[i]], py[b[i]]);
		(*written)++;
	}
}

/* One polyline per run of finite points. */
static void write_series(FILE *f, const struct plot_series *s, const struct frame *fr, int top, int height,
			 double ytop, int clip)
{
	double *px = malloc(sizeof(double) * (s->n ? s->n : 1));
	double *py = malloc(sizeof(double) * (s->n ? s->n : 1));
	if (!px || !py) {
		free(px);
		free(py);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		px[i] = px_x(fr, s->x[i]);
		py[i] = top + height - s->y[i] / ytop * height;
	}
	size_t limit = 4 * (size_t)fr->width;
	size_t i = 0;
	while (i < s->n) {
		if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
			i++;
			continue;
		}
		size_t end = i;
		while (end < s->n && isfinite(s->x[end]) && isfinite(s->y[end]))
			end++;
		fprintf(f, "<polyline clip-path=\"url(#clip%d)\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.4\"%s points=\"",
			clip, s->color, dasharray(s->dash));
		size_t written = 0;
		if (end - i <= limit) {
			for (size_t k = i; k < end; k++)
				fprintf(f, "%s%.1f,%.1f", written++ ? " " : "", px[k], py[k]);
		} else {
			size_t b[4];
			long col = (long)floor(px[i]);
			size_t lo = i, hi = i;
			b[0] = i;
			size_t last = i;
			for (size_t k = i + 1; k <= end; k++) {
				long c = k < end ? (long)floor(px[k]) : col + 1;
				if (c != col) {
					b[1] = lo, b[2] = hi, b[3] = last;
					flush_column(f, px, py, b, 4, &written);
					if (k == end)
						break;
					col = c;
					b[0] = lo = hi = last = k;
					continue;
				}
				if (py[k] > py[lo]) /* lowest value: largest pixel y */
					lo = k;
				if (py[k] < py[hi])
					hi = k;
				last = k;
			}
		}
		fputs("\"/>\n", f);
		i = end;
	}
	free(px);
	free(py);
}

static void write_panel(FILE *f, const struct plot *p, const struct plot_panel *pn, const struct frame *fr,
			int idx, int *y)
{
	struct legend_item *it = malloc(sizeof(*it) * (pn->nseries + 1));
	size_t nit = it ? panel_legend_items(pn, it) : 0;
	int right = fr->left + fr->width;
	/* title, then the legend beside it (wrapping under it) */
	*y += 20;
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">", fr->left, *y);
	plot_fput_xml(f, pn->title);
	fputs("</text>\n", f);
	double lx = fr->left + title_width(pn->title) + 24;
	if (lx > right - 200)
		lx = fr->left;
	int rows = legend(NULL, it, nit, lx, right, *y);
	if (lx == fr->left && rows)
		*y += ROW;
	fputs("<g font-size=\"12\">\n", f);
	legend(f, it, nit, lx, right, *y);
	fputs("</g>\n", f);
	if (rows > 1)
		*y += ROW * (rows - 1);
	free(it);
	*y += 10;
	int top = *y, h = p->panel_height, bottom = top + h;

	/* y range: 0 to the data's maximum, rounded up */
	double vmax = 0;
	for (size_t i = 0; i < pn->nseries; i++)
		for (size_t k = 0; k < pn->series[i]->n; k++) {
			double v = pn->series[i]->y[k], x = pn->series[i]->x[k];
			if (isfinite(v) && v > vmax && x >= fr->xlo && x <= fr->xhi)
				vmax = v;
		}
	double ystep;
	double ytop = plot_nice_top(vmax, Y_TICKS, &ystep);

	fprintf(f, "<clipPath id=\"clip%d\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath>\n", idx,
		fr->left, top - 1, fr->width, h + 2);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fcfcfc\"/>\n", fr->left, top, fr->width, h);
	/* shaded spans behind everything */
	for (size_t i = 0; i < p->nspans; i++) {
		const struct plot_spans *sp = p->spans[i];
		for (size_t k = 0; k < sp->n; k++) {
			double a = sp->x0[k] < fr->xlo ? fr->xlo : sp->x0[k];
			double b = sp->x1[k] > fr->xhi ? fr->xhi : sp->x1[k];
			if (!(b >= a))
				continue;
			double xa = px_x(fr, a), w = px_x(fr, b) - xa;
			fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" fill-opacity=\"0.18\"/>\n",
				xa, top, w < 0.8 ? 0.8 : w, h, sp->color);
		}
	}
	/* grid and tick labels */
	int yd = plot_step_decimals(ystep), xd = plot_step_decimals(fr->xstep);
	fputs("<g stroke=\"#e2e2e2\" stroke-width=\"1\">\n", f);
	for (int k = 0; k * ystep <= ytop + ystep * 1e-6; k++) {
		double py = bottom - k * ystep / ytop * h;
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", fr->left, py, right, py);
	}
	double xfirst = ceil(fr->xlo / fr->xstep - 1e-9) * fr->xstep;
	for (int k = 0; xfirst + k * fr->xstep <= fr->xhi + fr->xstep * 1e-6; k++) {
		double px = px_x(fr, xfirst + k * fr->xstep);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", px, top, px, bottom);
	}
	fputs("</g>\n<g font-size=\"11\" fill=\"#333\">\n", f);
	for (int k = 0; k * ystep <= ytop + ystep * 1e-6; k++) {
		double py = bottom - k * ystep / ytop * h;
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", fr->left - 6, py + 4, yd,
			k * ystep);
	}
	for (int k = 0; xfirst + k * fr->xstep <= fr->xhi + fr->xstep * 1e-6; k++) {
		double v = xfirst + k * fr->xstep;
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f</text>\n", px_x(fr, v), bottom + 15, xd,
			fabs(v) < fr->xstep * 1e-9 ? 0.0 : v);
	}
	fputs("</g>\n", f);
	int cy = top + h / 2;
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">", 22,
		cy, 22, cy);
	plot_fput_xml(f, pn->ylabel);
	fputs("</text>\n", f);
	/* the lines */
	for (size_t i = 0; i < pn->nseries; i++)
		write_series(f, pn->series[i], fr, top, h, ytop, idx);
	/* event ticks along the bottom edge */
	for (size_t i = 0; i < p->nmarks; i++) {
		const struct plot_marks *m = p->marks[i];
		if (!m->n)
			continue;
		fprintf(f, "<path stroke=\"%s\" stroke-width=\"1\" d=\"", m->color);
		size_t w = 0;
		for (size_t k = 0; k < m->n; k++)
			if (m->x[k] >= fr->xlo && m->x[k] <= fr->xhi)
				fprintf(f, "%sM%.1f %dv-8", w++ ? " " : "", px_x(fr, m->x[k]), bottom);
		fputs("\"/>\n", f);
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", fr->left, top,
		fr->width, h);
	*y = bottom + 15;
}

/* Height of a panel's header (title and legend rows), as write_panel lays it out. */
static int panel_header(const struct plot_panel *pn, const struct frame *fr)
{
	struct legend_item *it = malloc(sizeof(*it) * (pn->nseries + 1));
	size_t nit = it ? panel_legend_items(pn, it) : 0;
	int right = fr->left + fr->width;
	double lx = fr->left + title_width(pn->title) + 24;
	if (lx > right - 200)
		lx = fr->left;
	int rows = legend(NULL, it, nit, lx, right, 0);
	free(it);
	int h = 20 + 10;
	if (lx == fr->left && rows)
		h += ROW;
	if (rows > 1)
		h += ROW * (rows - 1);
	return h;
}

int plot_write_svg(const struct plot *p, FILE *f)
{
	struct frame fr = {.left = MARGIN_LEFT, .width = p->width - MARGIN_LEFT - MARGIN_RIGHT};
	if (fr.width < 100)
		fr.width = 100;
	int W = fr.left + fr.width + MARGIN_RIGHT;
	/* x range: given, or 0 to the data's end rounded up to a tick */
	double xmax = 0;
	for (size_t i = 0; i < p->npanels; i++)
		for (size_t j = 0; j < p->panels[i]->nseries; j++) {
			const struct plot_series *s = p->panels[i]->series[j];
			for (size_t k = 0; k < s->n; k++)
				if (isfinite(s->x[k]) && s->x[k] > xmax)
					xmax = s->x[k];
		}
	for (size_t i = 0; i < p->nmarks; i++)
		for (size_t k = 0; k < p->marks[i]->n; k++)
			if (isfinite(p->marks[i]->x[k]) && p->marks[i]->x[k] > xmax)
				xmax = p->marks[i]->x[k];
	fr.xlo = isnan(p->xmin) ? 0 : p->xmin;
	if (isnan(p->xmax)) {
		fr.xhi = fr.xlo + plot_nice_top(xmax - fr.xlo, X_TICKS, &fr.xstep);
	} else {
		fr.xhi = p->xmax > fr.xlo ? p->xmax : fr.xlo + 1;
		fr.xstep = plot_nice_step(fr.xhi - fr.xlo, X_TICKS);
	}

	/* the whole height, for the svg element */
	struct legend_item *git = malloc(sizeof(*git) * (p->nspans + p->nmarks + 1));
	size_t ngit = git ? plot_legend_items(p, git) : 0;
	int y = TITLE_Y;
	if (p->subtitle[0])
		y += 20;
	int grows = legend(NULL, git, ngit, fr.left, fr.left + fr.width, 0);
	y += ROW * grows;
	int H = y + 4;
	for (size_t i = 0; i < p->npanels; i++)
		H += panel_header(p->panels[i], &fr) + p->panel_height + 15 + (i + 1 < p->npanels ? PANEL_GAP - 20 : 0);
	H += p->xlabel[0] ? 30 : 12;

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		   "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n", W, H, W, H);
	fputs("<title>", f);
	plot_fput_xml(f, p->title);
	fputs("</title>\n", f);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
	/* a long title gets a smaller font rather than running off the edge */
	double tsize = 17, tw = 0.58 * tsize * (double)strlen(p->title);
	if (tw > W - fr.left - 10)
		tsize = (W - fr.left - 10) / (0.58 * (double)strlen(p->title));
	if (tsize < 9)
		tsize = 9;
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"%.1f\" font-weight=\"bold\">", fr.left, TITLE_Y, tsize);
	plot_fput_xml(f, p->title);
	fputs("</text>\n", f);
	y = TITLE_Y;
	if (p->subtitle[0]) {
		y += 20;
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12.5\" fill=\"#444\">", fr.left, y);
		plot_fput_xml(f, p->subtitle);
		fputs("</text>\n", f);
	}
	if (ngit) {
		y += ROW;
		legend(f, git, ngit, fr.left, fr.left + fr.width, y);
		y += ROW * (grows - 1);
	}
	free(git);
	y += 4;
	for (size_t i = 0; i < p->npanels; i++) {
		if (i)
			y += PANEL_GAP - 20;
		write_panel(f, p, p->panels[i], &fr, (int)i, &y);
	}
	if (p->xlabel[0]) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", fr.left + fr.width / 2, y + 16);
		plot_fput_xml(f, p->xlabel);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
	return ferror(f) ? -1 : 0;
}
