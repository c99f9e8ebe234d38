/*
 * The only main() of the unit tests. Each tests/unit/test_<module>.c
 * exports test_suite(); meson links this runner with one of them into
 * test-<module>. Prints "N passed, N failed" and returns the failure
 * count (0: success).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite	*test_suite(void);

int
main(void)
{
	SRunner	*sr;
	int	 run, failed;

	sr = srunner_create(test_suite());
	srunner_run_all(sr, CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("%d passed, %d failed\n", run - failed, failed);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
