/* pipeline: being written */
