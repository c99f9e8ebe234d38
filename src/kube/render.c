/* render.c: being written (issue 5). */
#include "kube.h"

#include <stdio.h>

int
kube_render_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("ferry: render is not implemented yet\n", stderr);
	return 1;
}
