library(testthat)
library(mssvae)

test_check("mssvae")
