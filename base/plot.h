/* SVG charts for run records, readable at a glance: line charts with a
 * title, labelled axes, ticks at round numbers, grid lines and a legend,
 * and heat maps with row labels and a colour bar.  Data in, an SVG
 * document (malloc'd text) out; the caller decides where it goes. */
#ifndef PARSEC_PLOT_H
#define PARSEC_PLOT_H

typedef struct {
  const char *label; /* in the legend */
  const double *y;   /* one value per x; NaN leaves a gap */
  const char *colour;
} plot_series;

#define PLOT_MAX_SERIES 4

typedef struct {
  const char *title, *xlabel, *ylabel;
  const double *x; /* the n positions the series share (epochs) */
  int n;
  plot_series series[PLOT_MAX_SERIES];
  int nseries;
} plot_chart;

/* NC charts side by side under TITLE. */
char *plot_lines(const char *title, const plot_chart *c, int nc);

typedef struct {
  const char *title, *xlabel, *legend; /* legend: what the colour means */
  const double *x;                     /* the columns' positions (epochs) */
  int ncols;
  const char *const *group; /* per row: its group's name, printed where it changes */
  const char *const *row;   /* per row: its label */
  int nrows;
  const double *v; /* nrows x ncols values in [0, 1], row-major */
} plot_heat;

char *plot_heatmap(const plot_heat *h);

/* Round tick positions covering [LO, HI]: at most MAX of them into T;
 * their number. */
int plot_ticks(double lo, double hi, int max, double *t);

#endif
