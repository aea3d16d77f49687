"""The parameter register, one module per group of rows; model/parameters.py is the way in."""
