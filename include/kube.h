/*
 * kube.h - ferry's Kubernetes client: configuration (in-cluster or
 * kubeconfig), typed calls, watches, and the manifests of a run's
 * sandbox (pure). Being written (issue 5).
 */
#ifndef FERRY_KUBE_H
#define FERRY_KUBE_H

/* `ferry render --config FILE --repo NAME --commit SHA [--output F]`. */
int	 kube_render_main(int argc, char **argv);

#endif
