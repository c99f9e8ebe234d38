/* http: being written */
