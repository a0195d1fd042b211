/* header-only unit */
