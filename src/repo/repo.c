/* repo: being written */
