/* events: being written (issue 6) */
