/* Test tool: the RDP accountant (src/dp/accountant.c) on request, for the
 * mpmath cross-check (tests/py/rdp_mpmath.py). Reads one request a line on
 * stdin and answers one line on stdout (%.17g), or "error MESSAGE":
 *   rdp Q SIGMA ALPHA                                  -> rdp of one step
 *   eps Q SIGMA STEPS DELTA improved|classic ALPHA...   -> epsilon best_alpha
 *   eps Q SIGMA STEPS DELTA improved|classic default    -> (the default orders)
 *   sigma Q STEPS DELTA TARGET_EPS                     -> the solved noise multiplier
 * usage: rdp_eval < requests */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fesf/accountant.h"
#include "fesf/error.h"

#define MAXN 1024

/* the orders after the conversion's name: a list, or "default" */
static int read_orders(char *rest, double *orders)
{
    int n = 0;
    for (char *tok = strtok(rest, " \t\n"); tok && n < MAXN; tok = strtok(NULL, " \t\n")) {
        if (!strcmp(tok, "default")) {
            fesf_rdp_default_orders(orders + n);
            n += FESF_RDP_NORDERS;
        } else {
            orders[n++] = atof(tok);
        }
    }
    return n;
}

static int eps_request(const char *line)
{
    double q, sigma, delta, orders[MAXN + FESF_RDP_NORDERS], rdp[MAXN + FESF_RDP_NORDERS] = {0}, eps, alpha;
    long steps;
    char conv[16];
    int used = 0;
    if (sscanf(line, "eps %lf %lf %ld %lf %15s %n", &q, &sigma, &steps, &delta, conv, &used) != 5 || !used)
        return fesf_error("bad request '%s'", line);
    char rest[8192];
    snprintf(rest, sizeof rest, "%s", line + used);
    int n = read_orders(rest, orders);
    fesf_rdp_conversion c = strcmp(conv, "classic") ? FESF_RDP_IMPROVED : FESF_RDP_CLASSIC;
    if (fesf_rdp_compose(q, sigma, steps, orders, n, rdp) || fesf_rdp_to_dp(orders, rdp, n, delta, c, &eps, &alpha))
        return -1;
    printf("%.17g %.17g\n", eps, alpha);
    return 0;
}

static int request(const char *line)
{
    double a, b, c, d, r;
    long steps;
    if (!strncmp(line, "rdp ", 4)) {
        if (sscanf(line, "rdp %lf %lf %lf", &a, &b, &c) != 3) return fesf_error("bad request '%s'", line);
        if (fesf_rdp_sgm(a, b, c, &r)) return -1;
        printf("%.17g\n", r);
        return 0;
    }
    if (!strncmp(line, "eps ", 4)) return eps_request(line);
    if (!strncmp(line, "sigma ", 6)) {
        if (sscanf(line, "sigma %lf %ld %lf %lf", &a, &steps, &c, &d) != 4) return fesf_error("bad request '%s'", line);
        if (fesf_rdp_solve_sigma(a, steps, c, d, &r)) return -1;
        printf("%.17g\n", r);
        return 0;
    }
    return fesf_error("unknown request '%s'", line);
}

int main(void)
{
    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (!*line) continue;
        if (request(line)) printf("error %s\n", fesf_errmsg());
        fflush(stdout);
    }
    return 0;
}
