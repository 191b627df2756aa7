/*
 * charge_check.h - Lago's validation of a charge's properties, one check
 * per charge model (lago-api app/services/charges/validators), and
 * the default properties Lago gives a charge created without any.
 *
 * Lago files every code these validators find under the charge's
 * "properties" field: {"properties": ["invalid_amount", ...]}.
 */
#ifndef TALLY_CHARGE_CHECK_H
#define TALLY_CHARGE_CHECK_H

#include <cjson/cJSON.h>

#define CHARGE_ERRS_MAX 8

/* The codes found, each once, in the order Lago finds them. */
struct charge_errs {
	const char *code[CHARGE_ERRS_MAX];
	int n;
};

/*
 * True for the charge models Tally prices: standard, graduated, package,
 * percentage, volume, graduated_percentage.
 */
int charge_model_known(const char *model);

/*
 * Check props (an object) for model and append the codes found to e.
 * Returns e->n; 0 means valid.  An unknown model finds nothing.
 */
int charge_check_props(const char *model, const cJSON *props,
		       struct charge_errs *e);

/*
 * Lago's DecimalAmountService#valid_amount?: a JSON string holding a
 * finite decimal >= 0.  Amounts given as JSON numbers are refused.
 */
int charge_valid_amount(const cJSON *v);

/*
 * Lago's default properties of model (BuildDefaultPropertiesService),
 * e.g. {"amount": "0"} for standard.  NULL for an unknown model or when
 * out of memory.
 */
cJSON *charge_default_props(const char *model);

#endif
