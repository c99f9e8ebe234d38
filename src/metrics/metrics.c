/* metrics: being written (issue 6) */
