/*
 * tests/symbols/fixture.c - a library that breaks the symbol-prefix rule on
 * purpose, one symbol of each checked type, so that the symbols_fixture
 * test proves check_symbols.sh fails: its prefix is fx_.
 */
int fx_ok(void);
int stray_fn(void);
extern int stray_data, stray_bss;
extern const int stray_table[2];
extern int stray_common;

int stray_data = 1;                       /* D */
int stray_bss;                            /* B */
const int stray_table[2] = {1, 2};        /* R */
__attribute__((common)) int stray_common; /* C */

static int helper(void) /* local: not exported, not listed */
{
    return stray_data + stray_table[0];
}

int fx_ok(void) /* T, with the prefix: not listed */
{
    return helper();
}

int stray_fn(void) /* T */
{
    return stray_bss + stray_common;
}
