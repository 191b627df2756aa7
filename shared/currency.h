/*
 * currency.h - ISO 4217 currency codes and their minor-unit exponents
 * (USD 2, JPY 0, KWD 3), the currencies Lago accepts for amounts.
 */
#ifndef TALLY_CURRENCY_H
#define TALLY_CURRENCY_H

/* Decimals of the minor unit of code ("USD" -> 2), or -1 if unknown. */
int currency_exponent(const char *code);

#endif
