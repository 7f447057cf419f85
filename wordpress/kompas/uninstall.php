<?php
/**
 * Uninstall: tells Kompas, removes the API key and webhooks Kompas was given, and the plugin's
 * option. The plugin creates no tables.
 *
 * @package Kompas
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

if ( ! defined( 'KOMPAS_APP_URL' ) ) {
	define( 'KOMPAS_APP_URL', 'https://app.kompas.example' );
}
require_once __DIR__ . '/includes/class-kompas-token.php';
require_once __DIR__ . '/includes/class-kompas-connection.php';

( new Kompas_Connection() )->disconnect();

// The connection is the plugin's only option; its one transient pauses cart events for a
// minute after Kompas did not answer. Cart tokens in WooCommerce sessions expire with their
// sessions (48 hours).
delete_option( Kompas_Connection::OPTION );
delete_transient( 'kompas_cart_events_paused' );

// Cart events still queued in Action Scheduler (class-kompas-cart.php): with the plugin gone
// nothing would handle them, and each would be logged as failed.
if ( function_exists( 'as_unschedule_all_actions' ) ) {
	as_unschedule_all_actions( 'kompas_send_cart_event', array(), 'kompas' );
}
