/**
 * The Kompas page in wp-admin: answers the panel's requests for a fresh token.
 *
 * The panel (in the iframe, on the Kompas origin) posts {type: "kompas:token-request", id}; this
 * page asks admin-ajax.php for a token minted for the logged-in user (nonce and capability
 * checked there) and posts it back to the Kompas origin only.
 *
 * @package Kompas
 */
( function ( config ) {
	'use strict';
	if ( ! config || ! config.origin ) {
		return;
	}
	window.addEventListener( 'message', function ( event ) {
		if ( event.origin !== config.origin || ! event.data || 'kompas:token-request' !== event.data.type ) {
			return;
		}
		var body = new URLSearchParams( { action: 'kompas_token', _ajax_nonce: config.nonce } );
		fetch( config.ajax, { method: 'POST', credentials: 'same-origin', body: body } )
			.then( function ( response ) {
				return response.json();
			} )
			.then( function ( answer ) {
				if ( answer && answer.success ) {
					event.source.postMessage( { type: 'kompas:token', id: event.data.id, token: answer.data.token }, config.origin );
				}
			} );
	} );
}( window.kompasBridge ) );
