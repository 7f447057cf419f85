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

/**
 * Everything of the plugin on the current site: Kompas is told, the API key and webhooks it was
 * given go, and so does the plugin's option. The connection is the plugin's only option; its one
 * transient pauses cart events for a minute after Kompas did not answer. Cart tokens in
 * WooCommerce sessions expire with their sessions (48 hours).
 */
$kompas_uninstall_site = function () {
	( new Kompas_Connection() )->disconnect();
	delete_option( Kompas_Connection::OPTION );
	delete_transient( 'kompas_cart_events_paused' );
	// Cart events still queued in Action Scheduler (class-kompas-cart.php): with the plugin gone
	// nothing would handle them, and each would be logged as failed.
	if ( function_exists( 'as_unschedule_all_actions' ) ) {
		as_unschedule_all_actions( 'kompas_send_cart_event', array(), 'kompas' );
	}
};

if ( is_multisite() ) {
	// WordPress runs this once, on the main site, also for a plugin active on other sites of the
	// network: each of them may be a store of its own, connected to Kompas with its own key.
	foreach ( get_sites( array( 'fields' => 'ids', 'number' => 0 ) ) as $kompas_site_id ) {
		switch_to_blog( $kompas_site_id );
		$kompas_uninstall_site();
		restore_current_blog();
	}
} else {
	$kompas_uninstall_site();
}
