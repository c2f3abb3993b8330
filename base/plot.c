#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int plot_ticks(double lo, double hi, int max, double *t) {
  if (!(hi > lo)) hi = lo + 1;
  if (max < 2) max = 2;
  double raw = (hi - lo) / (max - 1), mag = pow(10, floor(log10(raw))), step = 10 * mag;
  const double nice[3] = {1, 2, 5};
  for (int i = 0; i < 3; i++)
    if (nice[i] * mag >= raw) {
      step = nice[i] * mag;
      break;
    }
  int n = 0;
  double first = ceil(lo / step - 1e-9);
  for (double v = first * step; v <= hi + step * 1e-9 && n < max + 1; v = (first + n) * step)
    t[n++] = fabs(v) < step * 1e-9 ? 0 : v;
  return n;
}

/* Ticks for epochs: round numbers, never between two whole epochs. */
static int epoch_ticks(double lo, double hi, double *t) {
  int n = plot_ticks(lo, hi, 8, t);
  if (n < 2 || t[1] - t[0] >= 1) return n;
  n = 0;
  for (double v = ceil(lo); v <= hi && n < 9; v++) t[n++] = v;
  return n;
}

/* TEXT with XML's five special characters escaped. */
static void put_text(FILE *f, const char *text) {
  for (const char *c = text ? text : ""; *c; c++) {
    switch (*c) {
      case '&':
        fputs("&amp;", f);
        break;
      case '<':
        fputs("&lt;", f);
        break;
      case '>':
        fputs("&gt;", f);
        break;
      case '"':
        fputs("&quot;", f);
        break;
      case '\'':
        fputs("&apos;", f);
        break;
      default:
        fputc(*c, f);
    }
  }
}

static void label(FILE *f, double x, double y, const char *anchor, int size, const char *extra, const char *text) {
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size, extra);
  put_text(f, text);
  fputs("</text>\n", f);
}

static void number(char *buf, size_t cap, double v) { snprintf(buf, cap, "%.4g", v); }

static void range_of(const plot_chart *c, double *lo, double *hi) {
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int s = 0; s < c->nseries; s++)
    for (int i = 0; i < c->n; i++)
      if (isfinite(c->series[s].y[i])) {
        if (c->series[s].y[i] < *lo) *lo = c->series[s].y[i];
        if (c->series[s].y[i] > *hi) *hi = c->series[s].y[i];
      }
  if (!isfinite(*lo)) *lo = 0, *hi = 1;
  if (*hi - *lo < 1e-12) *lo -= 0.5, *hi += 0.5;
}

enum { PW = 440, PH = 300, ML = 64, MR = 16, MT = 34, MB = 48 };

/* One chart in the PW x PH panel at X0. */
static void chart(FILE *f, double x0, double y0, const plot_chart *c) {
  const double w = PW - ML - MR, h = PH - MT - MB;
  double lo, hi, xt[16], yt[16];
  range_of(c, &lo, &hi);
  double xlo = c->n ? c->x[0] : 0, xhi = c->n ? c->x[c->n - 1] : 1;
  if (xhi <= xlo) xhi = xlo + 1;
  int ny = plot_ticks(lo, hi, 6, yt), nx = epoch_ticks(xlo, xhi, xt);
  /* the axes span the ticks, so the extreme values sit on a labelled line */
  if (ny > 1) lo = yt[0] < lo ? yt[0] : lo, hi = yt[ny - 1] > hi ? yt[ny - 1] : hi;
  fprintf(f, "<g transform=\"translate(%.1f,%.1f)\">\n", x0 + ML, y0 + MT);
  label(f, w / 2, -14, "middle", 14, " font-weight=\"bold\"", c->title);
  fprintf(f, "<rect width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", w, h);
  char buf[32];
  for (int i = 0; i < ny; i++) {
    double y = h - h * (yt[i] - lo) / (hi - lo);
    if (y < -0.5 || y > h + 0.5) continue;
    fprintf(f, "<line x1=\"0\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", w, y, y);
    fprintf(f, "<line x1=\"-5\" x2=\"0\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", y, y);
    number(buf, sizeof buf, yt[i]);
    label(f, -8, y + 4, "end", 11, "", buf);
  }
  for (int i = 0; i < nx; i++) {
    if (xt[i] < xlo - 1e-9 || xt[i] > xhi + 1e-9) continue;
    double x = w * (xt[i] - xlo) / (xhi - xlo);
    fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", x, x, h, h + 5);
    number(buf, sizeof buf, xt[i]);
    label(f, x, h + 18, "middle", 11, "", buf);
  }
  label(f, w / 2, h + 38, "middle", 12, "", c->xlabel);
  fprintf(f, "<g transform=\"translate(%d,%.1f) rotate(-90)\">", -ML + 14, h / 2);
  label(f, 0, 0, "middle", 12, "", c->ylabel);
  fputs("</g>\n", f);
  for (int s = 0; s < c->nseries; s++) {
    const plot_series *p = &c->series[s];
    fprintf(f, "<polyline class=\"series\" data-label=\"");
    put_text(f, p->label);
    fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", p->colour);
    for (int i = 0; i < c->n; i++)
      if (isfinite(p->y[i]))
        fprintf(f, "%.1f,%.1f ", w * (c->x[i] - xlo) / (xhi - xlo), h - h * (p->y[i] - lo) / (hi - lo));
    fputs("\"/>\n", f);
    /* few points: a dot on each, so a point between gaps (or a lone epoch) shows */
    for (int i = 0; c->n <= 30 && i < c->n; i++)
      if (isfinite(p->y[i]))
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", w * (c->x[i] - xlo) / (xhi - xlo),
                h - h * (p->y[i] - lo) / (hi - lo), p->colour);
    if (c->nseries > 1) {
      double ly = 14 + 16 * s;
      fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", w - 110,
              w - 90, ly - 4, ly - 4, p->colour);
      label(f, w - 84, ly, "start", 11, "", p->label);
    }
  }
  fputs("</g>\n", f);
}

/* Ends the document; the text open_memstream gathered in *BUF is only
 * final once the stream is closed. */
static char *finish(FILE *f, char **buf) {
  fputs("</svg>\n", f);
  if (fclose(f) == 0) return *buf;
  free(*buf);
  return NULL;
}

char *plot_lines(const char *title, const plot_chart *c, int nc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  int width = PW * nc, height = PH + 30;
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          width, height, width, height);
  label(f, width / 2.0, 20, "middle", 15, "", title);
  for (int i = 0; i < nc; i++) chart(f, PW * i, 30, &c[i]);
  return finish(f, &buf);
}

/* white to dark blue */
static void colour(double v, char *buf, size_t cap) {
  v = v < 0 ? 0 : v > 1 ? 1 : v;
  snprintf(buf, cap, "#%02x%02x%02x", (int)(255 - v * (255 - 8)), (int)(255 - v * (255 - 48)),
           (int)(255 - v * (255 - 107)));
}

char *plot_heatmap(const plot_heat *h) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  const double gw = 130, rw = 120, top = 50, ch = 12;
  double cw = h->ncols > 0 ? 640.0 / h->ncols : 10;
  cw = cw > 24 ? 24 : cw < 3 ? 3 : cw;
  double mw = cw * h->ncols, mh = ch * h->nrows;
  int width = (int)(gw + rw + mw + 110), height = (int)(top + mh + 60);
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          width, height, width, height);
  label(f, width / 2.0, 22, "middle", 15, " font-weight=\"bold\"", h->title);
  char fill[16], num[32];
  for (int r = 0; r < h->nrows; r++) {
    double y = top + ch * r;
    if (h->group[r] && (r == 0 || !h->group[r - 1] || strcmp(h->group[r], h->group[r - 1]) != 0)) {
      label(f, 4, y + ch - 2, "start", 11, " font-weight=\"bold\"", h->group[r]);
      if (r) fprintf(f, "<line x1=\"4\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", gw + rw + mw, y, y);
    }
    label(f, gw + rw - 6, y + ch - 2, "end", 10, "", h->row[r]);
    for (int c = 0; c < h->ncols; c++) {
      colour(h->v[(size_t)r * h->ncols + c], fill, sizeof fill);
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>\n", gw + rw + cw * c, y,
              cw + 0.3, ch, fill);
    }
  }
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", gw + rw,
          top, mw, mh);
  /* the x axis: ticks at round epochs, at the columns' centres */
  double t[16];
  double xlo = h->ncols ? h->x[0] : 0, xhi = h->ncols ? h->x[h->ncols - 1] : 1;
  int nt = epoch_ticks(xlo, xhi > xlo ? xhi : xlo + 1, t);
  for (int i = 0; i < nt; i++) {
    if (t[i] < xlo - 1e-9 || t[i] > xhi + 1e-9) continue;
    double x = gw + rw + cw * (h->ncols > 1 ? (t[i] - xlo) / (xhi - xlo) * (h->ncols - 1) : 0) + cw / 2;
    fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", x, x, top + mh,
            top + mh + 5);
    number(num, sizeof num, t[i]);
    label(f, x, top + mh + 18, "middle", 11, "", num);
  }
  label(f, gw + rw + mw / 2, top + mh + 38, "middle", 12, "", h->xlabel);
  /* the colour bar */
  double bx = gw + rw + mw + 30, bh = mh < 120 ? mh : 120;
  for (int i = 0; i < 20; i++) {
    colour(1 - (i + 0.5) / 20, fill, sizeof fill);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.2f\" fill=\"%s\"/>\n", bx, top + bh * i / 20,
            bh / 20 + 0.3, fill);
  }
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", bx, top, bh);
  label(f, bx + 18, top + 8, "start", 10, "", "1");
  label(f, bx + 18, top + bh / 2 + 4, "start", 10, "", "0.5");
  label(f, bx + 18, top + bh, "start", 10, "", "0");
  fprintf(f, "<g transform=\"translate(%.1f,%.1f) rotate(90)\">", bx + 44, top + bh / 2);
  label(f, 0, 0, "middle", 11, "", h->legend);
  fputs("</g>\n", f);
  return finish(f, &buf);
}
