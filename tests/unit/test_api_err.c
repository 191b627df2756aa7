/*
 * test_api_err.c - the collector API's validation errors (api_err): they
 * gather per field in Lago's 422 body; and when memory runs out while one
 * is recorded, the request is refused all the same, with a 500, for
 * every allocation that can fail.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "failalloc.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "httpd.h"
#include "jsonmem.h"
#include "log.h"

/* Two errors of one field, one of another; sent; the answer's status. */
static int send_three(struct httpd_resp *resp)
{
	struct api_errs e = {0};
	struct api_ctx x = {.resp = resp};
	int sent;

	api_err(&e, "code", "value_is_mandatory");
	api_err(&e, "code", "value_already_exist");
	api_err(&e, "name", "invalid_value");
	sent = api_errs_send(&x, &e);
	api_errs_free(&e);
	return sent;
}

static void errors_gather_per_field(void **state)
{
	struct httpd_resp resp = {0};

	(void)state;
	assert_int_equal(send_three(&resp), 1);
	assert_int_equal(resp.status, 422);
	assert_non_null(strstr(resp.body, "\"error_details\":{\"code\":"
			       "[\"value_is_mandatory\",\"value_already_exist\"],"
			       "\"name\":[\"invalid_value\"]}"));
	free(resp.body);
}

static void no_errors_nothing_sent(void **state)
{
	struct httpd_resp resp = {0};
	struct api_errs e = {0};
	struct api_ctx x = {.resp = &resp};

	(void)state;
	assert_int_equal(api_errs_send(&x, &e), 0);
	assert_int_equal(resp.status, 0);
}

/* One error, as a request with one bad field records it. */
static int send_one(struct httpd_resp *resp)
{
	struct api_errs e = {0};
	struct api_ctx x = {.resp = resp};
	int sent;

	api_err(&e, "code", "value_is_mandatory");
	sent = api_errs_send(&x, &e);
	api_errs_free(&e);
	return sent;
}

static void out_of_memory_still_refuses(void **state)
{
	int (*send[2])(struct httpd_resp *) = {send_one, send_three};

	(void)state;
	log_init("test", LOG_ERROR + 1);
	jsonmem_init();
	jsonmem_set_allocator(failing_malloc, free);
	for (int k = 0; k < 2; k++) {
		for (fail_at = 1;; fail_at++) {
			struct httpd_resp resp = {0};

			allocs = 0;
			/* Never let through: refused, 422 or 500. */
			assert_int_equal(send[k](&resp), 1);
			free(resp.body);
			if (allocs < fail_at) {
				assert_int_equal(resp.status, 422);
				break;
			}
			assert_true(resp.status == 500 ||
				    resp.status == 422);
		}
		assert_true(fail_at > 3);
	}
	jsonmem_set_allocator(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(errors_gather_per_field),
		cmocka_unit_test(no_errors_nothing_sent),
		cmocka_unit_test_teardown(out_of_memory_still_refuses,
					  reset_hooks),
	};

	return cmocka_run_group_tests_name("api_err", tests, NULL, NULL);
}
