#include <stdio.h>

int
main(void)
{
	puts("hello, ferry");
	return 0;
}
