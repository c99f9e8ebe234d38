/* store: being written */
