/* hook: being written */
