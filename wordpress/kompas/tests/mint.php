<?php
/**
 * Prints a panel token minted by the plugin's own code, for the cross-language test in
 * tests/functional/test_woocommerce_wordpress.py:
 *   php tests/mint.php SITE USER_ID SECRET NOW [LIFETIME]
 *
 * @package Kompas
 */

// phpcs:disable WordPress.Security.EscapeOutput -- command-line output.
require __DIR__ . '/bootstrap.php';

list( , $site, $user, $secret, $now ) = $argv;
$lifetime = isset( $argv[5] ) ? (int) $argv[5] : Kompas_Token::MAX_LIFETIME;
echo Kompas_Token::mint( $site, (int) $user, $secret, (int) $now, $lifetime );
